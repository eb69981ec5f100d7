"""Shared test fixtures.

Services: tests that need the real PostgreSQL / Redis use the fixtures below. Locally they skip
when the service is missing; with DM_BRIDGE_REQUIRE_SERVICES=1 (set by .ci/run) a missing
service is a failure, so CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from django.urls import reverse

pytest_plugins = ["dm_bridge.testing", "tests.leakscan"]

REQUIRE_SERVICES = os.environ.get("DM_BRIDGE_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def service_missing(reason: str) -> None:
    """Skip locally; fail when services are required (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(
            f"{reason} (DM_BRIDGE_REQUIRE_SERVICES is set, so this is a failure, not a skip)"
        )
    pytest.skip(reason)


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_SERVICES:
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith(("postgres://", "postgresql://")):
            raise pytest.UsageError(
                "DM_BRIDGE_REQUIRE_SERVICES is set but DATABASE_URL is not PostgreSQL"
            )
        if not os.environ.get("REDIS_URL"):
            raise pytest.UsageError("DM_BRIDGE_REQUIRE_SERVICES is set but REDIS_URL is empty")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis URL (REDIS_URL), or skip / fail per DM_BRIDGE_REQUIRE_SERVICES."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        service_missing("REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at REDIS_URL is not reachable: {exc}")
    return url


@pytest.fixture(scope="session")
def postgres_required() -> None:
    """Tests whose claim needs PostgreSQL semantics (row locks, real concurrency)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        service_missing("this test needs PostgreSQL: set DATABASE_URL=postgresql://…")


@pytest.fixture
def whop(settings, emulator):
    """dm_bridge configured against a freshly reset emulator; work runs inline after commit.

    Rate limits are raised on both sides so tests are not paced at Whop's 600/min.
    """
    from dm_bridge.ratelimit import get_rate_limiter
    from dm_bridge.testing import settings_for

    settings.DM_BRIDGE = settings_for(
        emulator,
        TIMEOUT=3.0,
        RETRY_BACKOFF_BASE=0.1,
        RETRY_BACKOFF_MAX=1.0,
        RATE_LIMIT_PER_MINUTE=60_000,
    )
    emulator.set_rate_limit(60_000)
    get_rate_limiter().clear()
    return emulator


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    """Each test gets an empty in-process cache: cached chat tokens, throttle counters and
    the like never leak between tests (nor from a dev server's file cache or Redis)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def make_user(db):
    """make_user(username=None, email="" -> username@example.com, None -> no email,
    verified=True: the address is confirmed, as dm_bridge requires before provisioning)."""
    from django.contrib.auth import get_user_model

    numbers = count(1)

    def make(username=None, email="", verified=True, **extra):
        username = username or f"user{next(numbers)}"
        if email == "":
            email = f"{username}@example.com"
        user = get_user_model().objects.create_user(
            username=username, email=email or "", password="pw-123456", **extra
        )
        if email and verified:  # as after allauth's confirmation link; dm_bridge checks it
            from allauth.account.models import EmailAddress

            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    return make


@pytest.fixture
def live_connections(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every connection to the live server when the test ends.

    The emulator's webhook client (and a browser, until its context closes) keeps connections
    alive, so live-server threads would wait on them, holding a database connection, past the
    test (with SQLite: a thread warning at session end).
    """
    httpd = live_server.thread.httpd
    handle = httpd.process_request_thread
    connections: list[tuple[socket.socket, threading.Thread]] = []

    def tracked(request: socket.socket, client_address: Any) -> None:
        connections.append((request, threading.current_thread()))
        handle(request, client_address)

    monkeypatch.setattr(httpd, "process_request_thread", tracked)
    yield
    monkeypatch.setattr(httpd, "process_request_thread", handle)
    for request, thread in connections:
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=5)


@pytest.fixture
def webhook_receiver_url(live_server: Any, live_connections: None) -> str:
    """dm_bridge's webhook receiver on pytest-django's live server."""
    return live_server.url + reverse("dm_bridge:webhook")
