"""Outbound webhooks, signed the Standard Webhooks way and retried on failure.

Signature: ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}">`` keyed
with the UTF-8 bytes of the secret string exactly as configured (``ws_…``): Whop's docs hand
``btoa(secret)`` to the Standard Webhooks library, which base64-decodes it back to those bytes.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from dm_bridge.emulator.shapes import API_VERSION_DATE
from dm_bridge.emulator.store import iso_from_ms, new_id, now_ms

DEFAULT_RETRY_DELAYS = (10.0, 20.0, 40.0)
DELIVERY_TIMEOUT = 10.0
MAX_DELIVERY_RECORDS = 10_000


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    secret: str
    events: tuple[str, ...] | None = None
    retry_delays: tuple[float, ...] | None = None

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events

    def to_json(self) -> dict[str, Any]:
        # The secret is a credential: never echoed back.
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events) if self.events is not None else None,
            "retry_delays": list(self.retry_delays) if self.retry_delays is not None else None,
        }


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass
class _Attempt:
    endpoint: Endpoint
    event_id: str
    event_type: str
    body: bytes
    attempt: int
    generation: int


class WebhookDispatcher:
    """A small pool of worker threads fed by a queue of due delivery attempts."""

    def __init__(
        self, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS, workers: int = 4
    ) -> None:
        self.retry_delays = tuple(retry_delays)
        self._queue: list[tuple[float, int, _Attempt]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._generation = 0
        self._stopped = False
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=MAX_DELIVERY_RECORDS)
        self._client = httpx.Client(timeout=DELIVERY_TIMEOUT, follow_redirects=False)
        self._threads = [
            threading.Thread(target=self._work, name=f"webhook-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- producer side ------------------------------------------------------------------------
    def publish(
        self, endpoints: Sequence[Endpoint], event_type: str, data: dict[str, Any], company_id: str
    ) -> str | None:
        targets = [e for e in endpoints if e.wants(event_type)]
        if not targets:
            return None
        event_id = new_id("msg_")
        envelope = {
            "id": event_id,
            "api_version": "v1",
            "api_version_date": API_VERSION_DATE,
            "timestamp": iso_from_ms(now_ms()),
            "type": event_type,
            "account_id": company_id,
            "data": data,
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        with self._cond:
            for endpoint in targets:
                self._push(
                    time.monotonic(),
                    _Attempt(endpoint, event_id, event_type, body, 1, self._generation),
                )
        return event_id

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._deliveries)

    def reset(self) -> None:
        """Forget the delivery log and drop every pending attempt (including retries)."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._deliveries.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._client.close()

    def _push(self, due: float, attempt: _Attempt) -> None:
        heapq.heappush(self._queue, (due, next(self._counter), attempt))
        self._cond.notify()

    # --- workers ------------------------------------------------------------------------------
    def _next(self) -> _Attempt | None:
        with self._cond:
            while not self._stopped:
                if self._queue:
                    due = self._queue[0][0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._queue)[2]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _work(self) -> None:
        while (attempt := self._next()) is not None:
            try:
                self._deliver(attempt)
            except Exception as exc:  # a worker must never die
                print(f"webhook worker error: {exc!r}", file=sys.stderr, flush=True)

    def _deliver(self, attempt: _Attempt) -> None:
        endpoint = attempt.endpoint
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "whop-emulator-webhooks",
            "webhook-id": attempt.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(endpoint.secret, attempt.event_id, timestamp, attempt.body),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            response = self._client.post(endpoint.url, content=attempt.body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        print(
            f"{iso_from_ms(now_ms())} webhook {attempt.event_type} {attempt.event_id} -> {endpoint.url}"
            f" attempt {attempt.attempt}: {status_code or error}",
            file=sys.stderr,
            flush=True,
        )
        delays = endpoint.retry_delays if endpoint.retry_delays is not None else self.retry_delays
        with self._cond:
            if attempt.generation != self._generation:
                return
            self._deliveries.append(
                {
                    "webhook_id": endpoint.id,
                    "event_id": attempt.event_id,
                    "type": attempt.event_type,
                    "attempt": attempt.attempt,
                    "status_code": status_code,
                    "error": error,
                    "time": iso_from_ms(now_ms()),
                }
            )
            if error is not None and attempt.attempt <= len(delays):
                retry = _Attempt(
                    endpoint,
                    attempt.event_id,
                    attempt.event_type,
                    attempt.body,
                    attempt.attempt + 1,
                    attempt.generation,
                )
                self._push(time.monotonic() + delays[attempt.attempt - 1], retry)
