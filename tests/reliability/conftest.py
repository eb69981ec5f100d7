"""Real Celery worker processes (PostgreSQL + Redis) against the emulator over HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from dm_bridge import webhooks
from dm_bridge.ratelimit import get_rate_limiter
from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID, CeleryProcesses, settings_for

REPO = Path(__file__).resolve().parents[2]
# What the marketplace's workers consume (Procfile): the default queue, dm_bridge's sweeper
# queue and its backlog queue for a requester's flood.
QUEUES = "celery,dm_bridge_sweep,dm_bridge_backlog"


class MarketplaceWorkers(CeleryProcesses):
    """Workers that consume the queues the Procfile's workers do, unless told otherwise."""

    def worker(self, name: str, *, queues: str | None = QUEUES, **options: Any) -> Any:
        return super().worker(name, queues=queues, **options)


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.2, message: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


@pytest.fixture
def worker_env(
    settings, emulator, redis_url, postgres_required, transactional_db
) -> dict[str, str]:
    """Configure this process and return the environment for worker processes (same settings)."""
    settings.DM_BRIDGE = settings_for(
        emulator,
        TASKS_ENABLED=True,
        REDIS_URL=redis_url,
        LEASE_SECONDS=4,
        TIMEOUT=2.0,
        MAX_ATTEMPTS=12,
    )
    get_rate_limiter().clear()
    from marketplace.celery import app

    app.control.purge()
    with app.connection_for_write() as conn:  # purge() empties only Celery's default queue
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)
    # A purged drain task can no longer clear its "drain scheduled" flag: clear it here.
    redis.Redis.from_url(redis_url).delete(webhooks.DRAIN_SCHEDULED)
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "WHOP_API_KEY": DEFAULT_API_KEY,
        "WHOP_COMPANY_ID": DEFAULT_COMPANY_ID,
        "WHOP_API_BASE_URL": emulator.api_url,
        "DJANGO_DEBUG": "1",
        "DM_BRIDGE_LEASE_SECONDS": "4",
        "DM_BRIDGE_SWEEP_INTERVAL": "1",
        "DM_BRIDGE_TIMEOUT": "2",
        "DM_BRIDGE_RETRY_BACKOFF_BASE": "0.2",
        "DM_BRIDGE_RETRY_BACKOFF_MAX": "2",
        "DM_BRIDGE_MAX_ATTEMPTS": "12",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def celery_processes(worker_env, tmp_path) -> Iterator[CeleryProcesses]:
    procs = MarketplaceWorkers("marketplace", worker_env, tmp_path, cwd=REPO)
    try:
        yield procs
    finally:
        procs.stop()
        print(procs.logs())  # shown by pytest when the test failed
