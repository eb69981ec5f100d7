"""Fixtures for dm_bridge's web surface: users, a live A–B DM on the emulator, logged-in clients.

``world`` needs the ``whop`` fixture (DM_BRIDGE against a fresh emulator, work inline on commit)
and a transactional database, so a service call really reaches the emulator when its
transaction commits — which is what makes "no Whop call happened" assertions meaningful.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from dm_bridge import services
from dm_bridge.models import DmChannel, WhopUserLink


@pytest.fixture(autouse=True)
def fresh_cache(settings: Any) -> None:
    """No cached chat token or throttle count survives a test.

    An in-process cache is simply cleared; a shared one (Redis in CI, the dev file cache) gets a
    key prefix of its own instead — clearing it would flush data that is not ours.
    """
    from django.core.cache import cache

    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        cache.clear()
    else:
        settings.CACHES = {
            **settings.CACHES,
            "default": {**settings.CACHES["default"], "KEY_PREFIX": f"web-{uuid.uuid4().hex}"},
        }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def pages(settings: Any) -> str:
    """Serve tests/web/pages.py (test pages with the tags, dm_bridge under /dm/)."""
    from .pages import use_pages

    return use_pages(settings)


@dataclass
class World:
    a: Any
    b: Any
    c: Any
    ab: DmChannel  # active on the emulator

    def whop_id(self, user: Any) -> str:
        return WhopUserLink.objects.get(user=user).whop_user_id


@pytest.fixture
def world(whop: Any, make_user: Any) -> World:
    """alice and bob share a DM (active on the emulator); carol is an outsider."""
    a, b, c = make_user("alice"), make_user("bob"), make_user("carol")
    ab = services.open_dm("shop:1/buyer:alice", [a, b], custom_name="Vintage lamp")
    ab.refresh_from_db()
    assert ab.status == DmChannel.Status.ACTIVE, ab.last_error
    return World(a=a, b=b, c=c, ab=ab)


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verification (we only read what was asked for)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
