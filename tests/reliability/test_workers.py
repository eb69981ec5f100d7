"""Reliability acceptance: real Celery worker processes on Redis, PostgreSQL, the emulator over HTTP.

These tests need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); CI sets both and turns a
missing service into a failure.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime

import httpx
import pytest
from django.db import connections

from dm_bridge import services
from dm_bridge.models import DmChannel
from dm_bridge.testing import DEFAULT_API_KEY

from .conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


def whop_channel_ids(emulator) -> list[str]:
    """Every DM channel the emulator holds for the company (paginated with the API key)."""
    ids, after = [], None
    with httpx.Client(
        base_url=emulator.api_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    ) as http:
        while True:
            params = {"first": 100, **({"after": after} if after else {})}
            page = http.get("/dm_channels", params=params).raise_for_status().json()
            ids += [c["id"] for c in page["data"]]
            if not page["page_info"]["has_next_page"]:
                return ids
            after = page["page_info"]["end_cursor"]


def all_active(keys: list[str]) -> bool:
    return DmChannel.objects.filter(key__in=keys, status=DmChannel.Status.ACTIVE).count() == len(
        keys
    )


def test_fifty_concurrent_opens_make_one_row_and_one_whop_channel(
    celery_processes, make_user, emulator
):
    buyer, seller = make_user(), make_user()
    celery_processes.worker("w1")
    celery_processes.worker("w2")
    barrier = threading.Barrier(50)
    results, errors = [], []

    def open_it() -> None:
        try:
            barrier.wait()
            results.append(services.open_dm("shop:1/buyer:1", [buyer, seller]).pk)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=open_it) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(set(results)) == 1
    assert DmChannel.objects.filter(key="shop:1/buyer:1").count() == 1
    wait_until(lambda: all_active(["shop:1/buyer:1"]), 30, message="the channel to become active")
    assert len(emulator.requests("dm_channels.create")) == 1
    assert len(whop_channel_ids(emulator)) == 1


def test_thirty_percent_5xx_all_two_hundred_end_active_without_duplicates(
    celery_processes, make_user, emulator
):
    celery_processes.env["DM_BRIDGE_RATE_LIMIT_PER_MINUTE"] = "60000"
    celery_processes.env["DM_BRIDGE_MAX_ATTEMPTS"] = "15"
    emulator.set_rate_limit(60000)
    sellers = [make_user() for _ in range(20)]
    buyers = [make_user() for _ in range(10)]
    emulator.add_fault("dm_channels.create", status=503, probability=0.3)
    keys = []
    for s in sellers:
        for b in buyers:
            key = f"shop:{s.pk}/buyer:{b.pk}"
            services.open_dm(key, [b, s])
            keys.append(key)
    celery_processes.worker("w1")
    celery_processes.worker("w2")
    celery_processes.beat()

    wait_until(lambda: all_active(keys), 180, interval=1, message="200 channels to become active")

    rows = DmChannel.objects.filter(key__in=keys)
    remote = whop_channel_ids(emulator)
    assert len(remote) == 200 == len(set(remote))
    assert {r.whop_channel_id for r in rows} == set(remote)
    failed_calls = [r for r in emulator.requests("dm_channels.create") if r["status"] >= 500]
    assert failed_calls, "the fault injection should have failed some creations"
    assert sum(r.attempts for r in rows) == len(emulator.requests("dm_channels.create"))
    assert rows.filter(attempts__gt=1).exists()


def test_429_with_retry_after_stops_that_operation_for_every_worker(
    celery_processes, make_user, emulator
):
    # Without bursts (RATE_LIMIT_BURST=0) pacing at 600/min spaces calls 100 ms apart, wider
    # than the instant between Whop's 429 and the block being set, so no call can slip
    # through in between (with bursts, a call already in flight may still land after it).
    celery_processes.env["DM_BRIDGE_RATE_LIMIT_BURST"] = "0"
    users = [make_user() for _ in range(7)]
    emulator.add_fault("dm_channels.create", status=429, retry_after=5, times=1)
    keys = [f"pair:{i}" for i in range(6)]
    for i, key in enumerate(keys):
        services.open_dm(key, [users[0], users[i + 1]])
    celery_processes.worker("w1")
    celery_processes.worker("w2")
    celery_processes.beat()

    wait_until(lambda: all_active(keys), 60, message="channels to become active")
    calls = sorted(emulator.requests("dm_channels.create"), key=lambda r: r["seq"])
    limited = [i for i, r in enumerate(calls) if r["status"] == 429]
    assert len(limited) == 1
    at = datetime.fromisoformat(calls[limited[0]]["time"])
    later = [datetime.fromisoformat(r["time"]) for r in calls[limited[0] + 1 :]]
    assert later, "work must continue after the pause"
    gap = (min(later) - at).total_seconds()
    assert gap >= 4.9, (
        f"the next dm_channels.create came {gap:.2f}s after the 429 (Retry-After was 5s)"
    )


@pytest.mark.parametrize("mode", ["commit_then_error", "commit_then_hang"])
def test_commit_then_fail_ends_active_with_the_first_channel(
    celery_processes, make_user, emulator, mode
):
    a, b = make_user(), make_user()
    emulator.add_fault("dm_channels.create", mode=mode, status=500, times=1)
    channel = services.open_dm("shop:9/buyer:9", [a, b])
    celery_processes.worker("w1")
    celery_processes.beat()

    wait_until(lambda: all_active(["shop:9/buyer:9"]), 40, message="the channel to become active")
    channel.refresh_from_db()
    assert whop_channel_ids(emulator) == [channel.whop_channel_id]
    assert channel.attempts == 2
    assert len(emulator.requests("dm_channels.create")) == 2


def test_worker_killed_mid_creation_is_completed_by_the_sweeper(
    celery_processes, make_user, emulator
):
    a, b = make_user(), make_user()
    # The create reaches Whop, is committed there, and the answer never comes back.
    emulator.add_fault("dm_channels.create", mode="commit_then_hang", times=1)
    celery_processes.env["DM_BRIDGE_TIMEOUT"] = "60"  # so the worker is still inside the call
    victim = celery_processes.worker("victim")
    services.open_dm("shop:7/buyer:7", [a, b])

    wait_until(
        lambda: (
            len(emulator.requests("dm_channels.create")) >= 1
            or DmChannel.objects.filter(key="shop:7/buyer:7", attempts=1).exists()
        ),
        30,
        message="the create call",
    )
    wait_until(
        lambda: DmChannel.objects.get(key="shop:7/buyer:7").is_leased, 10, message="the lease"
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert DmChannel.objects.get(key="shop:7/buyer:7").status == DmChannel.Status.PENDING

    celery_processes.env["DM_BRIDGE_TIMEOUT"] = "2"
    celery_processes.worker("rescuer")
    celery_processes.beat()
    # Lease 4 s + sweep period 1 s + a worker start: well within 20 s.
    wait_until(
        lambda: all_active(["shop:7/buyer:7"]), 20, message="the sweeper to complete the row"
    )
    channel = DmChannel.objects.get(key="shop:7/buyer:7")
    assert whop_channel_ids(emulator) == [channel.whop_channel_id]


def test_permanent_error_fails_after_one_attempt_and_retry_now_recovers(
    celery_processes, make_user, emulator
):
    a, b = make_user(), make_user()
    emulator.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("shop:5/buyer:5", [a, b])
    celery_processes.worker("w1")

    wait_until(
        lambda: DmChannel.objects.get(pk=channel.pk).status == DmChannel.Status.FAILED,
        30,
        message="failure",
    )
    channel.refresh_from_db()
    assert channel.attempts == 1
    assert "permission" in channel.last_error
    assert len(emulator.requests("dm_channels.create")) == 1

    services.retry(channel)
    wait_until(
        lambda: all_active(["shop:5/buyer:5"]), 30, message="the retried channel to become active"
    )
    assert len(whop_channel_ids(emulator)) == 1


def test_connected_account_created_once_after_ambiguous_failure(
    celery_processes, make_user, emulator
):
    a, b = make_user(), make_user()
    emulator.add_fault("accounts.create", mode="commit_then_error", status=500, times=1)
    services.open_dm("shop:3/buyer:3", [a, b])
    celery_processes.worker("w1")
    celery_processes.beat()

    wait_until(lambda: all_active(["shop:3/buyer:3"]), 40, message="the channel to become active")
    with httpx.Client(
        base_url=emulator.api_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    ) as http:
        accounts = http.get(
            "/accounts", params={"parent_account_id": "biz_emulator", "first": 100}
        ).json()["data"]
    markers = [acc["metadata"]["external_id"] for acc in accounts]
    assert sorted(markers) == sorted([str(a.pk), str(b.pk)])
