"""The shared rate limiter: pacing, blocking after a 429, deferral, sharing across processes."""

from __future__ import annotations

import time

import pytest

from dm_bridge.ratelimit import LocalRateLimiter, RateLimitDeferred, RedisRateLimiter


def test_local_limiter_spaces_calls_evenly():
    limiter = LocalRateLimiter()
    waits = [limiter.reserve("op", per_minute=600, max_wait=10) for _ in range(5)]
    assert waits[0] == pytest.approx(0, abs=0.01)
    assert waits[4] == pytest.approx(0.4, abs=0.02)  # one slot per 100 ms


def test_local_limiter_defers_when_the_slot_is_too_far():
    limiter = LocalRateLimiter()
    limiter.reserve("op", per_minute=60, max_wait=1)
    with pytest.raises(RateLimitDeferred) as info:
        limiter.reserve("op", per_minute=60, max_wait=0.5)
    assert 0.9 < info.value.retry_after <= 1.0
    assert info.value.retryable


def test_block_after_429_delays_the_operation_only():
    limiter = LocalRateLimiter()
    limiter.block("dm_channels.create", 5)
    assert limiter.reserve("dm_channels.create", per_minute=6000, max_wait=10) == pytest.approx(
        5, abs=0.05
    )
    assert limiter.reserve("messages.create", per_minute=6000, max_wait=10) == pytest.approx(
        0, abs=0.01
    )


@pytest.mark.services
def test_redis_limiter_is_shared_between_instances(redis_url):
    one, two = (
        RedisRateLimiter(redis_url, prefix="test:rl"),
        RedisRateLimiter(redis_url, prefix="test:rl"),
    )
    one.clear()
    try:
        assert one.reserve("op", per_minute=600, max_wait=10) == pytest.approx(0, abs=0.01)
        assert two.reserve("op", per_minute=600, max_wait=10) == pytest.approx(0.1, abs=0.02)
        two.block("op", 3)
        wait = one.reserve("op", per_minute=600, max_wait=10)
        assert 2.9 <= wait <= 3.05
        with pytest.raises(RateLimitDeferred):
            two.reserve("op", per_minute=600, max_wait=1)
    finally:
        one.clear()


@pytest.mark.services
def test_redis_limiter_keeps_a_sustained_rate_under_the_limit(redis_url):
    limiter = RedisRateLimiter(redis_url, prefix="test:rl2")
    limiter.clear()
    try:
        start = time.monotonic()
        for _ in range(21):
            time.sleep(limiter.reserve("op", per_minute=1200, max_wait=5))
        elapsed = time.monotonic() - start
        assert elapsed >= 0.99  # 20 intervals of 50 ms
    finally:
        limiter.clear()
