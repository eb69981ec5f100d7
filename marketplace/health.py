"""``GET /healthz``: is this process able to serve? For load balancers and container healthchecks.

Checks the database, the cache and (when ``REDIS_URL`` is set) the Celery broker. The answer
names each check and, for a failing one, only the exception's class name: never a URL, host or
credential. The details go to the server log (logger ``marketplace.health``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 1
CACHE_KEY_TTL_SECONDS = 10


class CacheMismatch(Exception):
    """The cache accepted a value but did not give it back."""


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"marketplace:healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=CACHE_KEY_TTL_SECONDS)
    try:
        if cache.get(key) != "ok":
            raise CacheMismatch
    finally:
        cache.delete(key)


def check_broker() -> str:
    url = settings.REDIS_URL
    if not url:
        return "skipped"
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _run(name: str, check: Callable[[], str | None]) -> str:
    try:
        return check() or "ok"
    except Exception as exc:  # a health check reports every failure, whatever its type
        logger.warning("health check %s failed", name, exc_info=True)
        return type(exc).__name__


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _run("database", check_database),
        "cache": _run("cache", check_cache),
        "broker": _run("broker", check_broker),
    }
    healthy = all(value in {"ok", "skipped"} for value in checks.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )
    response["Cache-Control"] = "no-store"
    return response
