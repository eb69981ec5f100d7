"""Fixtures for fuzzing dm_bridge's REST API with schemathesis, in-process over WSGI.

Two signed-in users: ``owner`` (staff, so delete and remove-member success paths are reachable)
whose session the fuzzer uses, and ``peer``, who must never get at the owner's channels. The
policy is dm_bridge's own ``DefaultPolicy`` (so opening, renaming, members and deleting
succeed), Whop is the reset emulator with work run inline (``whop``), and sequences are reset
so the IDs the fuzzer draws first (1, 2, 3…) are real users and channels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler

from dm_bridge import services
from dm_bridge.models import DmChannel

CSRF_SECRET = "c" * 32  # any well-formed secret: the cookie and the header just have to agree
MAX_EXAMPLES = 50  # fuzzing examples per operation (plus examples and coverage cases)


@dataclass
class Session:
    user: Any
    cookies: dict[str, str]  # what a browser holds: the session and the CSRF cookie
    headers: dict[str, str]  # and sends on unsafe requests: the CSRF header


# Known before any test runs: schemathesis builds its coverage cases, credentials included,
# when pytest collects the tests. The fixture signs the owner in under this session key.
OWNER_SESSION_KEY = "contractownersession0000000000ab"
OWNER_COOKIES = {"sessionid": OWNER_SESSION_KEY, "csrftoken": CSRF_SECRET}
CSRF_HEADER = {"X-CSRFToken": CSRF_SECRET}


def signed_in(user: Any, session_key: str | None = None) -> Session:
    """A real Django session for ``user``, as ``login()`` writes it (under ``session_key``)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session as SessionRow
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    key = session_key or get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
    data = {
        SESSION_KEY: str(user.pk),
        BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
        HASH_SESSION_KEY: user.get_session_auth_hash(),
    }
    SessionRow.objects.create(
        session_key=key,
        session_data=SessionStore().encode(data),
        expire_date=timezone.now() + timezone.timedelta(hours=1),
    )
    return Session(
        user=user,
        cookies={"sessionid": key, "csrftoken": CSRF_SECRET},
        headers=dict(CSRF_HEADER),
    )


@dataclass
class Contract:
    owner: Session
    peer: Session
    owners_channels: list[DmChannel]
    peers_channel: DmChannel


@pytest.fixture
def contract(whop: Any, make_user: Any, settings: Any) -> Contract:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "POLICY": "dm_bridge.policy.DefaultPolicy"}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    owner = make_user("owner", is_staff=True)  # pk 1
    peer = make_user("peer")  # pk 2
    others = [make_user(f"user{i}") for i in range(3, 9)]  # pk 3…8
    owners = [
        services.open_dm("contract:owner-1", [owner, others[0]], custom_name="First"),
        services.open_dm("contract:owner-2", [owner, others[1], others[2]]),
    ]
    peers = services.open_dm("contract:peer", [peer, others[3]])
    contract = Contract(
        owner=signed_in(owner, OWNER_SESSION_KEY),
        peer=signed_in(peer),
        owners_channels=owners,
        peers_channel=peers,
    )
    return contract


CONFIG: dict[str, Any] = {
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": True, "max-steps": 20},
    },
    "operations": [
        {
            # Which user IDs exist is not something a schema can say: a positive request that
            # names an unknown user is rightly a 400 on the two operations that take user IDs.
            "include-operation-id": ["channels_create", "channels_members_create"],
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "403", "404", "409"]
                }
            },
        }
    ],
}


def generated_schema() -> dict[str, Any]:
    """dm_bridge's schema as ``GET /dm/api/schema/`` serves it (compared by a test), made
    without a request so that it exists when pytest collects the fuzzing tests."""
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def load_schema() -> Any:
    """The schema, with the signed-in owner of the running test as its authentication."""
    schema = schemathesis.openapi.from_dict(
        generated_schema(), config=schemathesis.Config.from_dict(CONFIG)
    )
    schema.app = WSGIHandler()  # requests go in-process to Django, as from_wsgi sets it up

    @schema.auth(refresh_interval=None)
    class SessionCookies:
        """The owner's session and CSRF cookies, and the CSRF header (what a browser sends);
        schemathesis' auth checks strip them and expect a refusal."""

        def get(self, case: Any, ctx: Any) -> dict[str, str]:
            return OWNER_COOKIES

        def set(self, case: Any, data: dict[str, str], ctx: Any) -> None:
            case.cookies = {**(case.cookies or {}), **data}
            case.headers = {**(case.headers or {}), **CSRF_HEADER}

    return schema


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The per-operation summary: requests sent and the status codes they got."""
    from .summary import PEER_LISTINGS, PEER_STATUSES, REQUESTS, STATEFUL

    if not REQUESTS and not STATEFUL:
        return
    write = terminalreporter.write_line
    write("schemathesis contract summary (cases the fuzzer generated, by operation):")
    for label in sorted(REQUESTS):
        statuses = REQUESTS[label]
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(statuses.items()))
        write(f"  {label:<45} {sum(statuses.values()):>5}  {codes}")
    total = sum(sum(c.values()) for c in REQUESTS.values())
    write(
        f"  operations: {len(REQUESTS)}, cases: {total}, 5xx: "
        f"{sum(n for c in REQUESTS.values() for code, n in c.items() if code >= 500)}"
    )
    write(
        f"  stateful phase: {sum(STATEFUL.values())} calls in chains, "
        + ", ".join(f"{code}×{n}" for code, n in sorted(STATEFUL.items()))
    )
    write(
        f"  second user replaying the owner's channel requests: {len(PEER_STATUSES)} "
        f"(2xx: {sum(1 for code in PEER_STATUSES if 200 <= code < 300)}); "
        f"the owner's list pages: {len(PEER_LISTINGS)} (each free of the owner's channels)"
    )
