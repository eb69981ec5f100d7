"""A day-long Whop outage, the sweeper's own queue and a flood's backlog queue, with real
Celery workers on Redis and PostgreSQL. Time is compressed: 1 hour of the story is 1 second.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from dm_bridge import services
from dm_bridge.models import DmChannel, WhopUserLink
from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID

from .conftest import wait_until
from .test_workers import all_active, whop_channel_ids

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

HOUR = 1.0  # seconds


def queued_tasks(redis_url: str, queue: str) -> list[str]:
    """Names of the tasks waiting in a Celery queue on the Redis broker."""
    raw = redis.Redis.from_url(redis_url).lrange(queue, 0, -1)
    return [json.loads(message)["headers"]["task"] for message in raw]


def test_a_day_long_whop_outage_ends_with_every_dm_active_and_none_twice(
    celery_processes, make_user, emulator
):
    env = celery_processes.env
    env["DM_BRIDGE_RETRY_HORIZON"] = str(48 * HOUR)  # the default 48 h
    env["DM_BRIDGE_RATE_LIMIT_PER_MINUTE"] = "60000"
    emulator.set_rate_limit(60000)
    sellers = [make_user() for _ in range(6)]
    buyers = [make_user() for _ in range(5)]
    for user in [*sellers, *buyers[:3]]:  # some users already have a Whop identity, some not
        services.ensure_whop_user(user)
    pairs = [(f"shop:{s.pk}/buyer:{b.pk}", [b, s]) for s in sellers for b in buyers]
    keys = [key for key, _ in pairs]

    emulator.add_fault("*", status=503)  # Whop is down: every call answers 503
    for key, members in pairs[:20]:
        services.open_dm(key, members)
    celery_processes.worker("w1")
    celery_processes.worker("w2")
    celery_processes.beat()
    time.sleep(8 * HOUR)
    for key, members in pairs[20:] + pairs[:10]:  # new buyers, and buyers clicking again
        services.open_dm(key, members)
    time.sleep(16 * HOUR)

    rows = DmChannel.objects.filter(key__in=keys)
    assert rows.count() == len(keys)
    assert set(rows.values_list("status", flat=True)) == {DmChannel.Status.PENDING}
    assert not rows.filter(waiting_since=None).exists()
    # The old rule (MAX_ATTEMPTS = 12 in a row) would have given these up for good by now.
    assert rows.filter(failures__gt=12).exists()
    assert not rows.filter(last_error__contains="Gave up").exists()

    emulator.clear_faults()  # Whop is back
    # Activation and the end of the failure streak are two statements: wait for both.
    wait_until(
        lambda: all_active(keys) and not rows.exclude(waiting_since=None).exists(),
        60,
        interval=0.5,
        message="every DM to become active with its failure streak over",
    )

    remote = whop_channel_ids(emulator)
    local = {row.whop_channel_id for row in rows}
    assert len(remote) == len(set(remote)) == len(local) == len(keys)
    assert set(remote) == local
    assert not rows.exclude(waiting_since=None).exists()
    assert set(rows.values_list("failures", "last_error")) == {(0, "")}
    users = [*sellers, *buyers]
    links = WhopUserLink.objects.filter(user__in=users)
    assert set(links.values_list("status", flat=True)) == {WhopUserLink.Status.ACTIVE}
    with httpx.Client(
        base_url=emulator.api_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    ) as http:
        accounts = http.get(
            "/accounts", params={"parent_account_id": DEFAULT_COMPANY_ID, "first": 100}
        ).json()["data"]
    assert sorted(a["metadata"]["external_id"] for a in accounts) == sorted(
        str(u.pk) for u in users
    )


def test_the_sweeper_runs_on_its_own_queue_while_the_default_queue_is_backed_up(
    celery_processes, make_user, redis_url
):
    a, b = make_user(), make_user()
    services.open_dm("shop:1/buyer:1", [a, b])  # its task waits: no worker takes "celery"
    assert queued_tasks(redis_url, "celery") == ["dm_bridge.drive_channel"]
    celery_processes.worker("sweeper", queues="dm_bridge_sweep")
    celery_processes.beat()

    # Each sweep (every second) finds the row due and unclaimed and enqueues it again.
    wait_until(
        lambda: queued_tasks(redis_url, "celery").count("dm_bridge.drive_channel") >= 3,
        30,
        message="the sweeper to run although the default queue is not drained",
    )
    assert "dm_bridge.sweep" not in queued_tasks(redis_url, "celery")


def test_an_honest_request_is_served_before_a_flood_opened_earlier(
    celery_processes, make_user, emulator
):
    spammer, honest = make_user(), make_user()
    shops = [make_user() for _ in range(30)]
    flood = [f"shop:{s.pk}/buyer:{spammer.pk}" for s in shops]
    for key, shop in zip(flood, shops, strict=True):
        services.open_dm(key, [spammer, shop])
    services.open_dm("shop:x/buyer:honest", [honest, shops[0]])
    celery_processes.worker("w1")  # one worker: the order it serves them in is the evidence

    wait_until(lambda: all_active([*flood, "shop:x/buyer:honest"]), 120, message="all active")
    order = list(
        DmChannel.objects.filter(key__in=[*flood, "shop:x/buyer:honest"])
        .order_by("activated_at")
        .values_list("key", flat=True)
    )
    # Without fairness it is 31st of 31 (first in, first out behind the flood).
    assert order.index("shop:x/buyer:honest") < 10, order
