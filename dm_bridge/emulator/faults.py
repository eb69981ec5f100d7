"""Fault injection (errors, hangs, latency, commit-then-fail) and the per-operation rate limiter
(sliding window, fixed window or token bucket; 429 with header and/or message)."""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dm_bridge.emulator.errors import (
    ApiError,
    bad_request,
    rate_limited,
    server_error,
    unprocessable,
)
from dm_bridge.emulator.store import new_id

FAULT_MODES = ("error", "hang", "commit_then_error", "commit_then_hang", "latency")

DEFAULT_RATE_LIMIT = 600
WINDOW_SECONDS = 60.0


@dataclass
class Fault:
    id: str
    operation: str
    mode: str
    status: int
    probability: float
    times: int | None  # remaining triggers; None = until cleared
    latency_ms: float
    retry_after: int
    triggered: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "mode": self.mode,
            "status": self.status,
            "probability": self.probability,
            "times": self.times,
            "latency_ms": self.latency_ms,
            "retry_after": self.retry_after,
            "triggered": self.triggered,
        }

    def error(self) -> ApiError:
        if self.status == 429:
            return rate_limited(self.retry_after)
        if self.status >= 500:
            return server_error(self.status)
        return ApiError(self.status, f"Injected error {self.status}.")

    @property
    def commits(self) -> bool:
        return self.mode.startswith("commit_then_")

    @property
    def hangs(self) -> bool:
        return self.mode.endswith("hang")


@dataclass
class Draw:
    """What the faults decided for one call."""

    latency_ms: float = 0.0
    fault: Fault | None = None


def _number(spec: dict[str, Any], name: str, default: Any, *, integer: bool = False) -> Any:
    value = spec.get(name, default)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        raise bad_request(f"{name} must be {'an integer' if integer else 'a number'}.", name)
    return value


class FaultInjector:
    def __init__(self, known_operations: Iterable[str], hang_seconds: float) -> None:
        self.known_operations = frozenset(known_operations)
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._release = threading.Event()

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise bad_request("The fault must be a JSON object.")
        operation = spec.get("operation")
        if not isinstance(operation, str) or not operation:
            raise bad_request("Missing required parameter: operation.", "operation")
        if operation != "*" and operation not in self.known_operations:
            raise unprocessable(
                f"Unknown operation {operation!r}; one of: *, {', '.join(sorted(self.known_operations))}.",
                "operation",
            )
        latency_ms = _number(spec, "latency_ms", 0)
        mode = spec.get("mode")
        if mode is None:
            # A latency given (even 0) without a status is a latency fault, not an error.
            only_latency = "latency_ms" in spec and "status" not in spec
            mode = "latency" if only_latency else "error"
        if mode not in FAULT_MODES:
            raise unprocessable(f"mode must be one of: {', '.join(FAULT_MODES)}.", "mode")
        status = _number(spec, "status", 500, integer=True)
        if not 400 <= status <= 599:
            raise unprocessable("status must be an HTTP error status (400-599).", "status")
        probability = _number(spec, "probability", 1.0)
        if not 0 <= probability <= 1:
            raise unprocessable("probability must be between 0 and 1.", "probability")
        times = spec.get("times")
        if times is not None:
            times = _number(spec, "times", None, integer=True)
            if times < 1:
                raise unprocessable(
                    "times must be at least 1 (or null for until cleared).", "times"
                )
        if latency_ms < 0:
            raise unprocessable("latency_ms must not be negative.", "latency_ms")
        retry_after = _number(spec, "retry_after", 1, integer=True)
        if retry_after < 1:
            raise unprocessable("retry_after must be at least 1 second.", "retry_after")
        fault = Fault(
            id=new_id("fault_"),
            operation=operation,
            mode=mode,
            status=status,
            probability=float(probability),
            times=times,
            latency_ms=float(latency_ms),
            retry_after=retry_after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        """Remove every fault and let every hanging request go (its connection is dropped)."""
        with self._lock:
            self._faults = []
            self._release.set()
            self._release = threading.Event()

    def draw(self, operation: str) -> Draw:
        draw = Draw()
        with self._lock:
            for fault in self._faults:
                if fault.operation not in ("*", operation) or fault.times == 0:
                    continue
                if fault.mode != "latency" and draw.fault is not None:
                    continue
                if random.random() >= fault.probability:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                fault.triggered += 1
                draw.latency_ms += fault.latency_ms
                if fault.mode != "latency":
                    draw.fault = fault
        return draw

    def hang(self) -> None:
        """Block until --hang-seconds pass or the faults are cleared (reset, DELETE /faults)."""
        with self._lock:
            release = self._release
        release.wait(self.hang_seconds)

    def sleep(self, seconds: float) -> None:
        """Injected latency; cut short like a hang when the faults are cleared."""
        with self._lock:
            release = self._release
        release.wait(seconds)


RATE_LIMIT_MODELS = ("sliding_window", "fixed_window", "token_bucket")
RATE_LIMIT_STYLES = ("header_and_message", "message_only", "header_only")
DEFAULT_MODEL = "sliding_window"
DEFAULT_STYLE = "header_and_message"


@dataclass(frozen=True)
class RatePolicy:
    """How one operation is limited. Whop documents "600 requests per minute" and the wait in
    the message text only; its real algorithm is unknown, so each model can be chosen.

    * ``sliding_window``: at most ``limit`` calls in any trailing ``window_seconds``.
    * ``fixed_window``: at most ``limit`` calls per window; a window opens at the first call
      after the previous one ended (Redis ``INCR`` + ``EXPIRE`` style).
    * ``token_bucket``: a bucket of ``burst`` tokens (default ``limit``) refilled at
      ``limit / window_seconds`` per second; a call takes one token.
    """

    limit: int = DEFAULT_RATE_LIMIT
    window_seconds: float = WINDOW_SECONDS
    model: str = DEFAULT_MODEL
    burst: int | None = None
    style: str = DEFAULT_STYLE

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.limit

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "model": self.model,
            "burst": self.capacity if self.model == "token_bucket" else None,
            "style": self.style,
        }


def rate_limited_in_style(seconds: float, style: str) -> ApiError:
    """The 429 as ``style`` asks: header and message, message only (what Whop documents),
    or header only (a generic gateway)."""
    error = rate_limited(max(1, math.ceil(seconds)))
    if style == "message_only":
        error.headers = {}
    elif style == "header_only":
        error.message = "Rate limit exceeded."
    return error


_POLICY_FIELDS = ("limit", "window_seconds", "model", "burst", "style")


def parse_rate_policy(body: dict[str, Any]) -> dict[str, Any]:
    """The policy fields a control request sets (``per_minute`` is the old name of ``limit``)."""
    changes: dict[str, Any] = {}
    if "per_minute" in body and "limit" not in body:
        body = {**body, "limit": body["per_minute"]}
    for name in ("limit", "burst"):
        if body.get(name) is None:
            continue
        value = body[name]
        label = "per_minute" if name == "limit" and "per_minute" in body else name
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{label} must be an integer.", label)
        if value < 1:
            raise unprocessable(f"{label} must be at least 1.", label)
        changes[name] = value
    if body.get("window_seconds") is not None:
        window = _number(body, "window_seconds", None)
        if not 0.1 <= window <= 86_400:
            raise unprocessable("window_seconds must be from 0.1 to 86400.", "window_seconds")
        changes["window_seconds"] = float(window)
    for name, allowed in (("model", RATE_LIMIT_MODELS), ("style", RATE_LIMIT_STYLES)):
        if body.get(name) is not None:
            if body[name] not in allowed:
                raise unprocessable(f"{name} must be one of: {', '.join(allowed)}.", name)
            changes[name] = body[name]
    return changes


@dataclass
class _Counter:
    """The state of one (operation, subject) under its policy."""

    calls: collections.deque[float] = field(default_factory=collections.deque)  # sliding
    window_start: float = 0.0  # fixed
    window_count: int = 0
    tokens: float = -1.0  # bucket; -1 = not started (full)
    refilled_at: float = 0.0

    def take(self, policy: RatePolicy, now: float) -> float | None:
        """Count the call and return None, or the seconds until one would be allowed."""
        limit, window = policy.limit, policy.window_seconds
        if policy.model == "fixed_window":
            if self.window_count == 0 or now >= self.window_start + window:
                self.window_start, self.window_count = now, 0
            if self.window_count >= limit:
                return self.window_start + window - now
            self.window_count += 1
            return None
        if policy.model == "token_bucket":
            rate = limit / window
            if self.tokens < 0:
                self.tokens = float(policy.capacity)
            else:
                self.tokens = min(policy.capacity, self.tokens + (now - self.refilled_at) * rate)
            self.refilled_at = now
            if self.tokens < 1:
                return (1 - self.tokens) / rate
            self.tokens -= 1
            return None
        calls = self.calls
        while calls and calls[0] <= now - window:
            calls.popleft()
        if len(calls) >= limit:
            return calls[len(calls) - limit] + window - now
        calls.append(now)
        return None


@dataclass
class RateLimiter:
    """Per-(operation, credential subject) limits under a :class:`RatePolicy` each."""

    default_per_minute: int = DEFAULT_RATE_LIMIT
    default_window: float = WINDOW_SECONDS
    default_model: str = DEFAULT_MODEL
    default_burst: int | None = None
    default_style: str = DEFAULT_STYLE
    _default: RatePolicy = field(default_factory=RatePolicy)
    _overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counters: dict[tuple[str, str], _Counter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._default = self._configured()

    def _configured(self) -> RatePolicy:
        return RatePolicy(
            self.default_per_minute,
            self.default_window,
            self.default_model,
            self.default_burst,
            self.default_style,
        )

    def set_limit(self, per_minute: int, operation: str | None = None) -> None:
        self.configure({"limit": per_minute}, operation)

    def configure(self, changes: dict[str, Any], operation: str | None = None) -> None:
        """Change the default policy, or one operation's (unset fields follow the default).
        Counting starts afresh for what changed."""
        with self._lock:
            if operation:
                self._overrides[operation] = {**self._overrides.get(operation, {}), **changes}
                for key in [k for k in self._counters if k[0] == operation]:
                    del self._counters[key]
            else:
                self._default = dataclasses.replace(self._default, **changes)
                self._counters.clear()

    def policy(self, operation: str) -> RatePolicy:
        override = self._overrides.get(operation)
        return dataclasses.replace(self._default, **override) if override else self._default

    def limits(self) -> dict[str, Any]:
        with self._lock:
            return {
                "per_minute": self._default.limit,  # the old name of "limit"
                **self._default.to_json(),
                "operations": {op: self.policy(op).to_json() for op in self._overrides},
            }

    def reset(self) -> None:
        with self._lock:
            self._default = self._configured()
            self._overrides.clear()
            self._counters.clear()

    def check(self, operation: str, subject: str) -> ApiError | None:
        """Count the call and return None, or return the 429 to answer (the call is not counted)."""
        now = time.monotonic()
        with self._lock:
            policy = self.policy(operation)
            counter = self._counters.setdefault((operation, subject), _Counter())
            wait = counter.take(policy, now)
        return None if wait is None else rate_limited_in_style(wait, policy.style)
