"""dm_bridge's limiter: bursts while the window allows, paces when it does not, learns from 429s,
shared through real Redis by threads and processes; and a backlog drained through it against
every emulator rate-limit model ends with no failed and no duplicated channel."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dm_bridge.ratelimit import (
    Budget,
    LocalRateLimiter,
    RateLimitDeferred,
    RateLimiter,
    RedisRateLimiter,
    window_margin,
)
from dm_bridge.testing import DEFAULT_API_KEY

PREFIX = "test:limiter"


@pytest.fixture(params=["redis", "local"])
def limiter(request: pytest.FixtureRequest) -> Any:
    if request.param == "local":
        yield LocalRateLimiter()
        return
    shared = RedisRateLimiter(request.getfixturevalue("redis_url"), prefix=PREFIX)
    shared.clear()
    yield shared
    shared.clear()


def _granted(limiter: RateLimiter, n: int, budget: Budget, max_wait: float = 60) -> list[float]:
    """Start times (relative to now) of ``n`` back-to-back reservations, without sleeping."""
    return [limiter.reserve("op", budget.limit, max_wait, budget) for _ in range(n)]


def test_an_idle_operation_bursts_up_to_the_limit_then_waits_for_the_window(limiter):
    budget = Budget(limit=10, window=2.0, burst=1.0, safety=1.0)
    waits = _granted(limiter, 11, budget)
    assert max(waits[:10]) < 0.05  # the whole window's allowance at once
    assert waits[10] == pytest.approx(2.0 + window_margin(2.0), abs=0.05)


def test_burst_share_limits_the_burst_and_the_rest_is_paced(limiter):
    budget = Budget(limit=20, window=2.0, burst=0.25, safety=1.0)  # 5 at once, then 1 per 100 ms
    waits = _granted(limiter, 8, budget)
    assert max(waits[:5]) < 0.05
    assert waits[5:] == pytest.approx([0.1, 0.2, 0.3], abs=0.03)


def test_no_burst_is_even_pacing_at_the_safety_share(limiter):
    budget = Budget(limit=10, window=1.0, burst=0.0, safety=0.5)  # one per 200 ms
    waits = _granted(limiter, 4, budget)
    assert waits == pytest.approx([0.0, 0.2, 0.4, 0.6], abs=0.03)


def test_a_429_blocks_the_operation_only(limiter):
    budget = Budget(limit=100, window=10.0, burst=1.0)
    limiter.block("op", 2.0, budget)
    assert limiter.reserve("op", 100, 10, budget) == pytest.approx(2.0, abs=0.05)
    assert limiter.reserve("other", 100, 10, budget) == pytest.approx(0.0, abs=0.02)
    limiter.block("op", 3.0, budget)  # a longer wait extends the block, never shortens it
    with pytest.raises(RateLimitDeferred) as info:
        limiter.reserve("op", 100, 0.5, budget)
    assert 2.9 < info.value.retry_after <= 3.05


def test_a_429_during_a_burst_halves_the_burst(limiter):
    budget = Budget(limit=40, window=4.0, burst=1.0, safety=1.0)
    _granted(limiter, 30, budget)  # 30 at once: 29 slots ahead of steady pacing
    limiter.block("op", 0.01, budget)  # Whop's bucket held fewer than 30
    lesson = limiter.learnt("op")
    assert lesson.get("burst") in (14, 15)
    assert "limit" not in lesson
    time.sleep(0.02)
    # Later bursts stay within the lesson: after a long idle spell, at most 15 at once.
    fresh = Budget(limit=40, window=4.0, burst=1.0, safety=1.0)
    waits = [limiter.reserve("op2", 40, 60, fresh) for _ in range(3)]
    assert max(waits) < 0.05  # another operation learnt nothing


def test_429s_of_calls_in_flight_when_the_block_began_teach_nothing_more(limiter):
    budget = Budget(limit=40, window=4.0, burst=1.0, safety=1.0)
    _granted(limiter, 30, budget)
    limiter.block("op", 0.5, budget)  # the first 429: the burst lesson (about 15)
    first = limiter.learnt("op")
    for _ in range(3):  # other workers' calls, already out when the block began
        limiter.block("op", 0.5, budget)
    assert limiter.learnt("op") == first  # not halved again for each of them
    time.sleep(0.55)
    limiter.block("op", 0.01, budget)  # after the block: a new 429, a new lesson
    assert limiter.learnt("op") != first


def test_after_a_429_during_a_burst_pacing_restarts_from_an_empty_bucket(limiter):
    budget = Budget(limit=40, window=4.0, burst=1.0, safety=1.0)  # 1 per 100 ms when paced
    _granted(limiter, 30, budget)  # a burst: 30 reservations, only some reached Whop's bucket
    limiter.block("op", 0.2, budget)
    # Next: when the block ends, then one per interval — not after the 30 reserved slots
    # (3 s of pacing) that the burst used up on our side.
    waits = _granted(limiter, 3, budget)
    assert waits[0] == pytest.approx(0.2, abs=0.05)
    assert waits[1] - waits[0] < 0.15 and waits[2] - waits[1] == pytest.approx(0.1, abs=0.03)


def test_once_whop_shows_a_bucket_the_window_cap_no_longer_holds_the_pacing_back(limiter):
    budget = Budget(limit=10, window=2.0, burst=1.0, safety=1.0)  # paced: 1 per 200 ms
    _granted(limiter, 10, budget)  # the window's 10 at once ...
    limiter.block("op", 0.0, budget)  # ... but Whop's bucket held fewer: a burst lesson (5)
    # A window cap would hold the 11th start for the whole window (2 s); Whop's bucket
    # refills meanwhile, so the pacing goes on at its interval.
    assert _granted(limiter, 2, budget) == pytest.approx([0.2, 0.4], abs=0.05)


def test_a_bucket_shown_by_a_429_is_paced_at_its_whole_rate_not_the_safety_share(limiter):
    # Paced at the safety share, 1 per 400 ms (test_no_burst_is_even_pacing_at_the_safety_share)
    budget = Budget(limit=10, window=2.0, burst=1.0, safety=0.5)
    _granted(limiter, 10, budget)
    limiter.block("op", 0.0, budget)  # a 429 during the burst: Whop counts with a bucket
    # Paced from the moment Whop found it empty, at its refill rate (1 per 200 ms): the
    # margin against window edges would only leave half the rate unused.
    waits = _granted(limiter, 3, budget)
    assert [b - a for a, b in zip(waits, waits[1:], strict=False)] == pytest.approx(
        [0.2, 0.2], abs=0.05
    )


def test_a_429_while_pacing_lowers_the_budget_to_what_went_through(limiter):
    budget = Budget(limit=20, window=1.0, burst=0.0, safety=1.0)  # one per 50 ms
    for _ in range(12):
        time.sleep(limiter.reserve("op", 20, 5, budget))
    limiter.block("op", 0.01, budget)  # refused after ~12 calls in a second: Whop allows fewer
    lesson = limiter.learnt("op")
    assert lesson == {"limit": 10}  # 90 % of the 12 that went out in the window, rounded down
    time.sleep(0.02)
    # The lower budget is in force: pacing at 1 per 100 ms now.
    waits = _granted(limiter, 3, budget)
    assert waits[2] - waits[1] == pytest.approx(0.1, abs=0.03)


def test_a_429_our_volume_cannot_explain_lowers_the_budget_at_most_to_a_quarter(limiter):
    budget = Budget(limit=100, window=10.0, burst=0.0)
    limiter.reserve("op", 100, 5, budget)
    limiter.block("op", 0.01, budget)  # another app on the key used the budget
    assert limiter.learnt("op") == {"limit": 25}


def _hammer_redis(url: str, n: int, budget: Budget, out: Any) -> None:
    limiter = RedisRateLimiter(url, prefix=PREFIX)
    for _ in range(n):
        wait = limiter.reserve("op", budget.limit, 60, budget)
        out.put(time.time() + wait)


def _max_in_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    best, first = 0, 0
    for last, start in enumerate(starts):
        while start - starts[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_processes_share_one_schedule_through_redis(redis_url):
    shared = RedisRateLimiter(redis_url, prefix=PREFIX)
    shared.clear()
    budget = Budget(limit=10, window=1.0, burst=1.0, safety=1.0)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [
        context.Process(target=_hammer_redis, args=(redis_url, 8, budget, out)) for _ in range(4)
    ]
    try:
        for proc in procs:
            proc.start()
        starts = [out.get(timeout=60) for _ in range(32)]
        for proc in procs:
            proc.join(timeout=30)
    finally:
        shared.clear()
    # 32 starts from four processes: never more than 10 in any second, so 4 windows' worth.
    assert _max_in_window(starts, 1.0) == 10
    assert max(starts) - min(starts) == pytest.approx(3.0 + 3 * window_margin(1.0), abs=0.3)


def test_threads_share_the_local_limiter_the_same_way():
    limiter = LocalRateLimiter()
    budget = Budget(limit=5, window=0.5, burst=1.0, safety=1.0)
    starts: list[float] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(5):
            wait = limiter.reserve("op", 5, 60, budget)
            with lock:
                starts.append(time.monotonic() + wait)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == 20
    assert _max_in_window(starts, 0.5) == 5


# --- a backlog through open_dm against every emulator model ------------------------------------


@pytest.mark.parametrize("model", ["sliding_window", "fixed_window", "token_bucket"])
def test_a_backlog_under_each_model_finishes_with_no_failed_or_duplicate_channel(
    model, settings, emulator, redis_url, postgres_required, transactional_db, make_user
):
    from django.db import connection

    from dm_bridge import services
    from dm_bridge.models import DmChannel
    from dm_bridge.ratelimit import get_rate_limiter
    from dm_bridge.services.engine.converge import drive_channel
    from dm_bridge.testing import settings_for

    settings.DM_BRIDGE = settings_for(
        emulator,
        TASKS_ENABLED=False,  # open_dm drives the channel inline, in the calling thread
        REDIS_URL=redis_url,
        RATE_LIMIT_PER_MINUTE=60_000,
        RATE_LIMIT_OVERRIDES={"dm_channels.create": 10},
        RATE_LIMIT_WINDOW=2.0,
        RETRY_BACKOFF_BASE=0.1,
        RETRY_BACKOFF_MAX=0.5,
    )
    get_rate_limiter().clear()
    # Whop's limit for the create is lower than configured, in the style Whop documents.
    policy: dict[str, Any] = {"window_seconds": 2.0, "model": model, "style": "message_only"}
    if model == "token_bucket":
        policy["burst"] = 3
    emulator.set_rate_limit(60_000)
    emulator.set_rate_limit(8, operation="dm_channels.create", **policy)

    sellers = [make_user(f"seller{i}") for i in range(3)]
    buyers = [make_user(f"buyer{i}") for i in range(8)]
    for user in sellers + buyers:
        services.ensure_whop_user(user)
    pairs = [(s, b) for s in sellers for b in buyers]  # 24 DMs: three windows' worth

    def open_some(chunk: list[tuple[Any, Any]]) -> None:
        try:
            for seller, buyer in chunk:
                services.open_dm(f"shop:{seller.pk}/buyer:{buyer.pk}", [buyer, seller])
        finally:
            connection.close()

    threads = [threading.Thread(target=open_some, args=(pairs[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # What a 429 or a deferral left pending is driven again when due, as the sweeper would.
    deadline = time.monotonic() + 60
    drive: Callable[[int], str] = drive_channel
    while DmChannel.objects.filter(status="pending").exists() and time.monotonic() < deadline:
        for pk in DmChannel.objects.filter(status="pending").values_list("pk", flat=True):
            drive(pk)
        time.sleep(0.1)

    statuses = list(DmChannel.objects.values_list("status", flat=True))
    assert statuses.count("active") == len(pairs), DmChannel.objects.exclude(
        status="active"
    ).values_list("status", "last_error")
    whop_ids = set(DmChannel.objects.values_list("whop_channel_id", flat=True))
    assert len(whop_ids) == len(pairs)
    listed = httpx.get(
        f"{emulator.api_url}/dm_channels",
        params={"first": 100},
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
    ).json()["data"]
    assert {c["id"] for c in listed} == whop_ids  # no channel on Whop that no row knows
    assert any(e["status"] == 429 for e in emulator.requests("dm_channels.create")), (
        "the backlog never reached Whop's lower limit: this test would prove nothing"
    )


@pytest.mark.parametrize("style", ["message_only", "header_only"])
def test_a_429_in_either_style_blocks_the_operation_for_every_worker(
    style, settings, emulator, redis_url
):
    from dm_bridge.whop import WhopAdapter, WhopRateLimitError

    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "RATE_LIMIT_PER_MINUTE": 600}
    emulator.set_rate_limit(1, operation="dm_channels.list", window_seconds=20, style=style)
    one, two = (RedisRateLimiter(redis_url, prefix=PREFIX) for _ in range(2))
    one.clear()
    try:
        with WhopAdapter.build(DEFAULT_API_KEY, base_url=emulator.api_url, pacer=one) as whop:
            whop.dm_channels.list(account_id="biz_emulator")
            with pytest.raises(WhopRateLimitError) as info:
                whop.dm_channels.list(account_id="biz_emulator")
        assert info.value.retry_after is not None and 19 <= info.value.retry_after <= 20
        # Another worker (another limiter instance on the same Redis) now waits as long.
        with pytest.raises(RateLimitDeferred) as deferred:
            two.wait_for_slot("dm_channels.list")
        assert 18 <= deferred.value.retry_after <= 20
    finally:
        one.clear()
