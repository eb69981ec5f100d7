"""Keep every Whop operation under its rate limit across all worker processes.

Whop allows N requests per window (documented: 600 per minute) per operation per credential,
and does not document how it counts. Each call reserves a start time first, in Redis so any
number of workers share one schedule. A start is granted when *both* hold:

* **window cap**: fewer than N starts in the trailing window (plus a small margin for
  network jitter), so no sliding or fixed window of Whop's can overflow — until a 429
  during a burst shows that Whop counts with a bucket smaller than N, which the pacing
  below then models on its own (a bucket refills while a window would still be full);
* **pacing** (GCRA, i.e. a token bucket): one slot per ``window / (N × RATE_LIMIT_SAFETY)``
  with a burst allowance of ``RATE_LIMIT_BURST × N`` calls, so an idle operation takes a
  burst at once (a 100-buyer campaign goes out immediately) and a long backlog is paced.
  The safety share is a margin against Whop's *window* edges (our evenly paced N plus
  network jitter must not look like N + 1 in any window of Whop's clock). Once a 429 during a
  burst has shown a bucket, the pacing restarts from the moment Whop found it empty (a round
  trip late, so on the safe side) and a bucket paced at its refill rate cannot overflow: the
  whole rate is used (``RATE_LIMIT_SAFETY`` would only leave 2 % of it unused).

A 429 that happens anyway (another app on the same key, a smaller bucket or lower limit than
configured) blocks the operation for everyone until Whop's wait (header or message text) has
passed, and teaches the limiter: a 429 *during a burst* halves the burst allowance (Whop's
bucket is smaller) and restarts the pacing from an empty bucket, not from behind the
burst's reservations; a 429 *while pacing* lowers the per-window budget to 90 % of what went
out in the window (Whop's limit is lower; never below a quarter of the configured one).
What was learnt is forgotten after ``LEARNT_WINDOWS`` quiet windows, so a temporary squeeze
does not slow the site for good. A call already in flight when the 429 arrives cannot be
recalled: a burst may draw as many 429s as there are workers, once; those arriving while the
operation is blocked only extend the block, and teach nothing more.

Without Redis a per-process limiter does the same for one process (the embedded demo).
"""

from __future__ import annotations

import collections
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from .conf import dm_bridge_settings
from .exceptions import DmBridgeError

LEARNT_WINDOWS = 10  # a lesson from a 429 lasts this many windows after the last 429
LESSON_LIMIT_SHARE = 0.9  # a 429 while pacing: the budget becomes this share of the window
# ... but never below this share of the configured limit: a 429 our own volume cannot explain
# (another app on the key) blocks the operation without throttling it for ten windows.
LOWEST_LEARNT_SHARE = 0.25
BURSTING_AHEAD = 8  # slots reserved ahead of steady pacing that mean "we were bursting"


def window_margin(window: float) -> float:
    """Seconds added to the window cap: arrival jitter must not put N+1 calls in Whop's window."""
    return max(0.1, 0.01 * window)


class RateLimitDeferred(DmBridgeError):
    """The next free slot is too far away to wait for in-process; try the work again later."""

    retryable = True

    def __init__(self, operation: str, retry_after: float) -> None:
        self.operation = operation
        self.retry_after = retry_after
        super().__init__(
            f"{operation}: rate limit reached locally; next slot in {retry_after:.1f}s"
        )


@dataclass(frozen=True)
class Budget:
    """One operation's configured budget: ``limit`` calls per ``window`` seconds, paced at
    ``safety`` of that rate, bursts of up to ``burst`` (a share of the limit, 0 = none)."""

    limit: int
    window: float = 60.0
    burst: float = 0.0
    safety: float = 1.0

    @classmethod
    def for_operation(cls, operation: str) -> Budget:
        return cls(
            limit=max(1, dm_bridge_settings.rate_limit_for(operation)),
            window=float(dm_bridge_settings.RATE_LIMIT_WINDOW),
            burst=float(dm_bridge_settings.RATE_LIMIT_BURST),
            safety=float(dm_bridge_settings.RATE_LIMIT_SAFETY),
        )


# Shared by both scripts: the budget in force (configured, lowered by what was learnt).
# KEYS: log (zset of granted starts, ms), state (hash: tat, blocked), learnt (hash: limit, burst)
# ARGV[1..4]: limit, window ms, burst share, safety.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[1])
local learnt_limit = tonumber(redis.call('HGET', KEYS[3], 'limit') or '0')
if learnt_limit > 0 and learnt_limit < limit then limit = learnt_limit end
local burst = math.max(1, math.floor(limit * tonumber(ARGV[3])))
local learnt_burst = tonumber(redis.call('HGET', KEYS[3], 'burst') or '0')
if learnt_burst > 0 and learnt_burst < burst then burst = learnt_burst end
-- A bucket (learnt from a 429 during a burst) is paced at its whole rate (module docstring).
local safety = tonumber(ARGV[4])
if learnt_burst > 0 then safety = 1 end
local interval = window / (limit * safety)
local tat = tonumber(redis.call('HGET', KEYS[2], 'tat') or '0')
local blocked = tonumber(redis.call('HGET', KEYS[2], 'blocked') or '0')
"""

# ARGV[5..7]: max wait ms, window margin ms, a unique member. Returns the wait in ms (>= 0)
# when a start was granted, or minus the wait when it is too far away (nothing reserved).
_RESERVE = (
    _PRELUDE
    + """
local margin = tonumber(ARGV[6])
local start = math.max(now, tat - (burst - 1) * interval, blocked)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - margin)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit and learnt_burst == 0 then
  local nth = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  start = math.max(start, tonumber(nth[2]) + window + margin)
end
local wait = start - now
if wait > tonumber(ARGV[5]) then return string.format('%.3f', -wait) end
redis.call('HSET', KEYS[2], 'tat', string.format('%.3f', math.max(tat, start) + interval))
redis.call('PEXPIRE', KEYS[2], math.ceil(wait + 2 * window + margin))
redis.call('ZADD', KEYS[1], string.format('%.3f', start), ARGV[7])
redis.call('PEXPIRE', KEYS[1], math.ceil(wait + window + margin) + 1000)
return string.format('%.3f', wait)
"""
)

# ARGV[5..9]: block ms, lesson lifetime ms, BURSTING_AHEAD, LESSON_LIMIT_SHARE, LOWEST_LEARNT_SHARE.
# Extends, never shortens, an existing block.
_BLOCK = (
    _PRELUDE
    + """
local ahead = (tat - now) / interval
if blocked > now then
  -- Already blocked: this call went out before the block, it teaches nothing new.
elseif ahead > tonumber(ARGV[7]) then
  local lesson = math.max(1, math.floor(ahead / 2))
  if lesson < burst then redis.call('HSET', KEYS[3], 'burst', lesson) end
  -- Whop's bucket is empty now: the pacing restarts from there, not behind the burst's
  -- reservations (those that drew a 429 used none of Whop's tokens).
  redis.call('HSET', KEYS[2], 'tat', string.format('%.3f', math.min(tat, now + math.min(lesson, burst) * interval)))
else
  local sent = redis.call('ZCOUNT', KEYS[1], now - window, '+inf')
  local lesson = math.max(math.ceil(tonumber(ARGV[1]) * tonumber(ARGV[9])), math.floor(sent * tonumber(ARGV[8])))
  if lesson < limit then redis.call('HSET', KEYS[3], 'limit', lesson) end
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
local untill = now + tonumber(ARGV[5])
if untill > blocked then
  redis.call('HSET', KEYS[2], 'blocked', string.format('%.3f', untill))
  redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[5]) + 2 * window))
end
return string.format('%.3f', untill)
"""
)


class RateLimiter:
    """Interface: ``reserve`` a start for an operation; ``block`` (and learn) after a 429."""

    def reserve(
        self, operation: str, per_minute: int, max_wait: float, budget: Budget | None = None
    ) -> float:
        """Reserve the next start; returns seconds to wait before calling, or raises
        RateLimitDeferred. ``per_minute`` alone (no ``budget``) is even pacing, no burst."""
        raise NotImplementedError

    def block(self, operation: str, seconds: float, budget: Budget | None = None) -> None:
        """A 429 asked to wait ``seconds``: stop the operation for everyone and learn from it."""
        raise NotImplementedError

    def learnt(self, operation: str) -> dict[str, int]:
        """What 429s taught about ``operation``: ``{"limit": …, "burst": …}`` (either may be
        missing)."""
        raise NotImplementedError

    def clear(self) -> None:
        """Forget all slots, blocks and lessons (tests)."""
        raise NotImplementedError

    def wait_for_slot(self, operation: str, max_wait: float = 5.0) -> None:
        budget = Budget.for_operation(operation)
        wait = self.reserve(operation, budget.limit, max_wait, budget)
        if wait > 0:
            time.sleep(wait)


class RedisRateLimiter(RateLimiter):
    def __init__(self, url: str, prefix: str = "dm_bridge:rl") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE)
        self._block = self._redis.register_script(_BLOCK)

    def _keys(self, operation: str) -> list[str]:
        base = f"{self._prefix}:{operation}"
        return [f"{base}:log", f"{base}:state", f"{base}:learnt"]

    @staticmethod
    def _args(budget: Budget) -> list[str]:
        return [
            str(budget.limit),
            f"{budget.window * 1000:.3f}",
            repr(budget.burst),
            repr(budget.safety),
        ]

    def reserve(
        self, operation: str, per_minute: int, max_wait: float, budget: Budget | None = None
    ) -> float:
        budget = budget or Budget(per_minute)
        reply = self._reserve(
            keys=self._keys(operation),
            args=[
                *self._args(budget),
                int(max_wait * 1000),
                f"{window_margin(budget.window) * 1000:.3f}",
                uuid.uuid4().hex,
            ],
        )
        wait_ms = float(reply)
        if wait_ms < 0:
            raise RateLimitDeferred(operation, -wait_ms / 1000)
        return wait_ms / 1000

    def block(self, operation: str, seconds: float, budget: Budget | None = None) -> None:
        budget = budget or Budget.for_operation(operation)
        self._block(
            keys=self._keys(operation),
            args=[
                *self._args(budget),
                max(1, int(seconds * 1000)),
                int(LEARNT_WINDOWS * budget.window * 1000),
                BURSTING_AHEAD,
                repr(LESSON_LIMIT_SHARE),
                repr(LOWEST_LEARNT_SHARE),
            ],
        )

    def learnt(self, operation: str) -> dict[str, int]:
        raw = self._redis.hgetall(self._keys(operation)[2])
        return {
            (key.decode() if isinstance(key, bytes) else key): int(value)
            for key, value in raw.items()
        }

    def clear(self) -> None:
        for key in self._redis.scan_iter(f"{self._prefix}:*"):
            self._redis.delete(key)


@dataclass
class _Schedule:
    starts: collections.deque[float] = field(default_factory=collections.deque)
    tat: float = 0.0
    blocked: float = 0.0
    lessons: dict[str, int] = field(default_factory=dict)
    lessons_until: float = 0.0


class LocalRateLimiter(RateLimiter):
    """The same algorithm for a single process (threads share it); the scripts above are the
    reference, this mirrors them line for line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schedules: dict[str, _Schedule] = {}

    def _budget(self, schedule: _Schedule, budget: Budget, now: float) -> tuple[int, float, int]:
        if now > schedule.lessons_until:
            schedule.lessons.clear()
        limit = min(budget.limit, schedule.lessons.get("limit", budget.limit))
        safety = 1.0 if "burst" in schedule.lessons else budget.safety
        interval = budget.window / (limit * safety)
        burst = max(1, math.floor(limit * budget.burst))
        return limit, interval, min(burst, schedule.lessons.get("burst", burst))

    def reserve(
        self, operation: str, per_minute: int, max_wait: float, budget: Budget | None = None
    ) -> float:
        budget = budget or Budget(per_minute)
        margin = window_margin(budget.window)
        with self._lock:
            now = time.monotonic()
            schedule = self._schedules.setdefault(operation, _Schedule())
            limit, interval, burst = self._budget(schedule, budget, now)
            start = max(now, schedule.tat - (burst - 1) * interval, schedule.blocked)
            starts = schedule.starts
            while starts and starts[0] <= now - budget.window - margin:
                starts.popleft()
            if len(starts) >= limit and "burst" not in schedule.lessons:
                start = max(start, starts[len(starts) - limit] + budget.window + margin)
            wait = start - now
            if wait > max_wait:
                raise RateLimitDeferred(operation, wait)
            schedule.tat = max(schedule.tat, start) + interval
            starts.append(start)
            return wait

    def block(self, operation: str, seconds: float, budget: Budget | None = None) -> None:
        budget = budget or Budget.for_operation(operation)
        with self._lock:
            now = time.monotonic()
            schedule = self._schedules.setdefault(operation, _Schedule())
            limit, interval, burst = self._budget(schedule, budget, now)
            ahead = (schedule.tat - now) / interval
            if schedule.blocked > now:
                pass  # already blocked: this call went out before the block, nothing new
            elif ahead > BURSTING_AHEAD:
                lesson = max(1, math.floor(ahead / 2))
                if lesson < burst:
                    schedule.lessons["burst"] = lesson
                schedule.tat = min(schedule.tat, now + min(lesson, burst) * interval)
            else:
                sent = sum(1 for start in schedule.starts if start > now - budget.window)
                lesson = max(
                    math.ceil(budget.limit * LOWEST_LEARNT_SHARE),
                    math.floor(sent * LESSON_LIMIT_SHARE),
                )
                if lesson < limit:
                    schedule.lessons["limit"] = lesson
            if schedule.lessons:
                schedule.lessons_until = now + LEARNT_WINDOWS * budget.window
            schedule.blocked = max(schedule.blocked, now + seconds)

    def learnt(self, operation: str) -> dict[str, int]:
        with self._lock:
            schedule = self._schedules.get(operation)
            if schedule is None or time.monotonic() > schedule.lessons_until:
                return {}
            return dict(schedule.lessons)

    def clear(self) -> None:
        with self._lock:
            self._schedules.clear()


@lru_cache(maxsize=4)
def _limiter_for(redis_url: str) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()


def get_rate_limiter() -> RateLimiter:
    """The limiter for the configured ``DM_BRIDGE['REDIS_URL']`` (shared per process)."""
    return _limiter_for(dm_bridge_settings.REDIS_URL or "")
