"""Fault injection (errors, hangs, latency, commit-then-fail) and the per-operation rate limiter."""

from __future__ import annotations

import collections
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


@dataclass
class RateLimiter:
    """A sliding 60-second window per (operation, credential subject)."""

    default_per_minute: int = DEFAULT_RATE_LIMIT
    _per_minute: int = 0
    _overrides: dict[str, int] = field(default_factory=dict)
    _windows: dict[tuple[str, str], collections.deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._per_minute = self.default_per_minute

    def set_limit(self, per_minute: int, operation: str | None = None) -> None:
        with self._lock:
            if operation:
                self._overrides[operation] = per_minute
            else:
                self._per_minute = per_minute

    def limits(self) -> dict[str, Any]:
        with self._lock:
            return {"per_minute": self._per_minute, "operations": dict(self._overrides)}

    def reset(self) -> None:
        with self._lock:
            self._per_minute = self.default_per_minute
            self._overrides.clear()
            self._windows.clear()

    def check(self, operation: str, subject: str) -> int | None:
        """Count the call and return None, or return the seconds to wait (the call is not counted)."""
        now = time.monotonic()
        with self._lock:
            limit = self._overrides.get(operation, self._per_minute)
            window = self._windows.setdefault((operation, subject), collections.deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                return max(1, math.ceil(window[len(window) - limit] + WINDOW_SECONDS - now))
            window.append(now)
            return None
