"""GET /healthz: database, cache and broker, 200 or 503, and nothing secret in the answer."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connections

from marketplace import health

SECRET = "hunter2"
pytestmark = pytest.mark.django_db


def expected_broker(settings) -> str:
    return "ok" if settings.REDIS_URL else "skipped"


def test_all_ok(client, settings):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": expected_broker(settings)},
    }
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"


def test_broker_ok_against_the_real_redis(client, settings, redis_url):
    settings.REDIS_URL = redis_url

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


def test_database_down(client, settings, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError(
            f'connection to server at "db.internal" failed: password={SECRET} for user "shop"'
        )

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {
            "database": "OperationalError",
            "cache": "ok",
            "broker": expected_broker(settings),
        },
    }
    assert response["Cache-Control"] == "no-store"
    assert SECRET not in response.content.decode()
    assert "db.internal" not in response.content.decode()


def test_broker_unreachable(client, settings):
    settings.REDIS_URL = f"redis://:{SECRET}@127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"] == "ConnectionError"
    assert body["checks"]["database"] == "ok"
    text = response.content.decode()
    assert SECRET not in text and "127.0.0.1" not in text and "redis://" not in text


def test_cache_that_loses_values(client, monkeypatch):
    class ForgetfulCache:
        def set(self, key, value, timeout=None):
            pass

        def get(self, key):
            return None

        def delete(self, key):
            pass

    monkeypatch.setattr(health, "cache", ForgetfulCache())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "CacheMismatch"


def test_get_only_and_no_login(client):
    # The anonymous test client gets 200 above; other methods are refused.
    for method in (client.post, client.put, client.delete):
        response = method("/healthz")
        assert response.status_code == 405
        assert response["Allow"] == "GET"
