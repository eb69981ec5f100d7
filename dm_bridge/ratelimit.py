"""Keep every Whop operation under its per-minute limit across all worker processes.

Whop allows N requests per minute per operation per credential. Instead of finding the limit
through 429s, each call reserves a slot first (GCRA: one slot every 60/N s, no burst) in Redis,
so any number of workers together stay under it. A 429 that happens anyway (another app on
the same key, a lower limit than configured) blocks the operation for everyone until
Whop's Retry-After has passed.

Without Redis a per-process limiter does the same for one process (the embedded demo).
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from .conf import dm_bridge_settings
from .exceptions import DmBridgeError


class RateLimitDeferred(DmBridgeError):
    """The next free slot is too far away to wait for in-process; try the work again later."""

    retryable = True

    def __init__(self, operation: str, retry_after: float) -> None:
        self.operation = operation
        self.retry_after = retry_after
        super().__init__(
            f"{operation}: rate limit reached locally; next slot in {retry_after:.1f}s"
        )


# KEYS: slot key, block key. ARGV: interval ms, max wait ms. Returns the wait in ms (>= 0)
# when a slot was reserved, or minus the wait when it is too far away (nothing reserved).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(tat, now, blocked)
local wait = start - now
if wait > max_wait then return -wait end
redis.call('SET', KEYS[1], string.format('%.3f', start + interval), 'PX', math.ceil(wait + interval) + 60000)
return wait
"""

# KEYS: block key. ARGV: block ms. Extends, never shortens, an existing block.
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untill = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untill > current then redis.call('SET', KEYS[1], untill, 'PX', tonumber(ARGV[1]) + 1000) end
return untill
"""


class RateLimiter:
    """Interface: ``reserve`` a slot for an operation; ``block`` an operation after a 429."""

    def reserve(self, operation: str, per_minute: int, max_wait: float) -> float:
        """Reserve the next slot; returns seconds to wait before calling, or raises RateLimitDeferred."""
        raise NotImplementedError

    def block(self, operation: str, seconds: float) -> None:
        raise NotImplementedError

    def wait_for_slot(self, operation: str, max_wait: float = 5.0) -> None:
        limit = max(
            1,
            int(
                dm_bridge_settings.rate_limit_for(operation) * dm_bridge_settings.RATE_LIMIT_SAFETY
            ),
        )
        wait = self.reserve(operation, limit, max_wait)
        if wait > 0:
            time.sleep(wait)


class RedisRateLimiter(RateLimiter):
    def __init__(self, url: str, prefix: str = "dm_bridge:rl") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE)
        self._block = self._redis.register_script(_BLOCK)

    def _keys(self, operation: str) -> tuple[str, str]:
        return f"{self._prefix}:{operation}:slot", f"{self._prefix}:{operation}:block"

    def reserve(self, operation: str, per_minute: int, max_wait: float) -> float:
        # Fractional milliseconds: rounding 25.5 ms up to 26 would waste 2 % of the limit. The
        # script's reply is truncated to whole ms; the stored schedule itself stays exact.
        interval_ms = f"{60_000 / per_minute:.3f}"
        wait_ms = int(
            self._reserve(
                keys=list(self._keys(operation)), args=[interval_ms, int(max_wait * 1000)]
            )
        )
        if wait_ms < 0:
            raise RateLimitDeferred(operation, -wait_ms / 1000)
        return wait_ms / 1000

    def block(self, operation: str, seconds: float) -> None:
        self._block(keys=[self._keys(operation)[1]], args=[max(1, int(seconds * 1000))])

    def clear(self) -> None:
        """Forget all slots and blocks (tests)."""
        for key in self._redis.scan_iter(f"{self._prefix}:*"):
            self._redis.delete(key)


class LocalRateLimiter(RateLimiter):
    """The same algorithm for a single process (threads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}
        self._blocked: dict[str, float] = {}

    def reserve(self, operation: str, per_minute: int, max_wait: float) -> float:
        interval = 60.0 / per_minute
        with self._lock:
            now = time.monotonic()
            start = max(self._tat.get(operation, 0.0), now, self._blocked.get(operation, 0.0))
            wait = start - now
            if wait > max_wait:
                raise RateLimitDeferred(operation, wait)
            self._tat[operation] = start + interval
            return wait

    def block(self, operation: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._blocked[operation] = max(self._blocked.get(operation, 0.0), until)

    def clear(self) -> None:
        with self._lock:
            self._tat.clear()
            self._blocked.clear()


@lru_cache(maxsize=4)
def _limiter_for(redis_url: str) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()


def get_rate_limiter() -> RateLimiter:
    """The limiter for the configured ``DM_BRIDGE['REDIS_URL']`` (shared per process)."""
    return _limiter_for(dm_bridge_settings.REDIS_URL or "")
