"""dm_bridge's adapter over Whop's official SDK (``whop-sdk``).

The SDK owns Whop's contract: endpoints, request bodies and response models. This module
owns only what is dm_bridge's:

* the SDK built with ``max_retries=0`` (dm_bridge decides retries) on dm_bridge's own
  ``httpx.Client`` (explicit timeouts, ``User-Agent: dm-bridge/<version>``, no redirects, an
  injectable transport for tests);
* every call named by its SDK path (``"dm_channels.create"``), which is also the unit of
  Whop's rate limit: a :class:`Pacer` reserves a slot before the request and is told about a
  429 after it;
* ``before_send``: a hook run just before the request goes out (dm_bridge records the attempt
  there, so a crash mid-call leaves a trace);
* ``idempotency_key``: sent as ``Idempotency-Key`` (free if Whop ignores it);
* every failure turned into a :class:`~dm_bridge.whop.errors.WhopError` by the one table in
  :mod:`dm_bridge.whop.errors`.

Usage::

    whop = WhopAdapter.build(api_key, base_url=..., api_version=...)
    channel = whop.dm_channels.create(with_user_ids=[...], account_id="biz_…",
                                      before_send=record_attempt, idempotency_key="…")
    for member in whop.dm_members.list(channel_id=channel.id):   # every page paced
        ...

The credential only ever sits in the SDK's ``Authorization`` header: it is not in ``repr``,
log lines or exception messages.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from whop_sdk import Whop
from whop_sdk.core.pagination import SyncPager
from whop_sdk.core.request_options import RequestOptions
from whop_sdk.environment import WhopEnvironment

import dm_bridge

from .errors import WhopError, error_from_sdk

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "Pacer",
    "WhopAdapter",
    "build_sdk",
]

logger = logging.getLogger("dm_bridge.whop")

DEFAULT_BASE_URL = WhopEnvironment.PRODUCTION.api
DEFAULT_API_VERSION = "2026-10-15-1"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class Pacer(Protocol):
    """Keeps calls under Whop's per-operation limit (see :mod:`dm_bridge.ratelimit`)."""

    def wait_for_slot(self, operation: str) -> None: ...

    def block(self, operation: str, seconds: float) -> None: ...


class _Unpaced:
    def wait_for_slot(self, operation: str) -> None:
        return None

    def block(self, operation: str, seconds: float) -> None:
        return None


def build_sdk(
    api_key: str,
    *,
    base_url: str = DEFAULT_BASE_URL,
    api_version: str = DEFAULT_API_VERSION,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    user_agent: str | None = None,
) -> Whop:
    """The official SDK as dm_bridge runs it: no SDK retries, our own HTTP client."""
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValueError("api_key must be a non-empty string")
    base = base_url.rstrip("/")
    http = httpx.Client(
        headers={"User-Agent": user_agent or f"dm-bridge/{dm_bridge.__version__}"},
        timeout=timeout,
        transport=transport if transport is not None else httpx.HTTPTransport(retries=0),
        follow_redirects=False,
    )
    return Whop(
        environment=WhopEnvironment(api=base, vault=base),
        api_version_date=api_version,
        token=api_key,
        max_retries=0,
        httpx_client=http,
    )


class WhopAdapter:
    """The SDK's resources (``.dm_channels``, ``.accounts``…) with pacing, hooks and our errors."""

    def __init__(
        self, sdk: Whop, *, pacer: Pacer | None = None, redact: tuple[str, ...] = ()
    ) -> None:
        self.sdk = sdk
        self.pacer: Pacer = pacer if pacer is not None else _Unpaced()
        self._redact = tuple(secret for secret in redact if secret)

    @classmethod
    def build(cls, api_key: str, *, pacer: Pacer | None = None, **options: Any) -> WhopAdapter:
        """``build_sdk(api_key, **options)`` wrapped; the key is redacted from error texts."""
        return cls(build_sdk(api_key, **options), pacer=pacer, redact=(api_key,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self.sdk._client_wrapper.get_environment().api

    def close(self) -> None:
        self.sdk._client_wrapper.httpx_client.httpx_client.close()

    def __enter__(self) -> WhopAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, resource: str) -> _Resource:
        if resource.startswith("_"):
            raise AttributeError(resource)
        return _Resource(self, resource, getattr(self.sdk, resource))

    def call(
        self,
        operation: str,
        send: Callable[[RequestOptions | None], Any],
        *,
        before_send: Callable[[], None] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Run one SDK request: pace, hook, send, classify. A pager stays paced page by page."""
        options: RequestOptions | None = (
            {"additional_headers": {"Idempotency-Key": idempotency_key}}
            if idempotency_key
            else None
        )
        result = self._send(operation, lambda: send(options), before_send)
        if isinstance(result, SyncPager):
            return self._paced_pager(operation, result, set())
        return result

    def _send(
        self,
        operation: str,
        send: Callable[[], Any],
        before_send: Callable[[], None] | None = None,
    ) -> Any:
        self.pacer.wait_for_slot(operation)
        if before_send is not None:
            before_send()
        started = time.perf_counter()
        try:
            result = send()
        except Exception as exc:
            error = error_from_sdk(exc, operation, redact=self._redact)
            self._log(operation, error.status or type(exc).__name__, started)
            if error.status == 429:
                self.pacer.block(operation, error.retry_after or 1.0)
            raise error from exc
        self._log(operation, "ok", started)
        return result

    def _paced_pager(self, operation: str, pager: SyncPager[Any, Any], seen: set[str]) -> Any:
        """``pager`` whose next pages are fetched through :meth:`_send` (paced, classified)."""
        get_next = pager.get_next
        if get_next is None or not pager.has_next:
            return pager
        cursor = getattr(getattr(pager.response, "page_info", None), "end_cursor", None) or ""
        if cursor in seen:  # a server handing out the same cursor again would loop forever
            raise WhopError(f"pagination cursor {cursor!r} repeated", operation=operation)
        seen.add(cursor)

        def next_page() -> Any:
            page = self._send(operation, get_next)
            return self._paced_pager(operation, page, seen) if isinstance(page, SyncPager) else page

        return dataclasses.replace(pager, get_next=next_page)

    @staticmethod
    def _log(operation: str, outcome: int | str, started: float) -> None:
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        logger.debug(
            "whop %s -> %s in %d ms",
            operation,
            outcome,
            elapsed_ms,
            extra={"whop_operation": operation, "whop_outcome": outcome, "whop_ms": elapsed_ms},
        )


class _Resource:
    """One SDK resource; its methods gain ``before_send`` and ``idempotency_key``."""

    def __init__(self, adapter: WhopAdapter, name: str, resource: Any) -> None:
        self._adapter = adapter
        self._name = name
        self._resource = resource

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        function = getattr(self._resource, method)
        operation = f"{self._name}.{method}"
        adapter = self._adapter

        def paced(
            *args: Any,
            before_send: Callable[[], None] | None = None,
            idempotency_key: str | None = None,
            **kwargs: Any,
        ) -> Any:
            def send(options: RequestOptions | None) -> Any:
                if options is not None:
                    kwargs["request_options"] = options
                return function(*args, **kwargs)

            return adapter.call(
                operation, send, before_send=before_send, idempotency_key=idempotency_key
            )

        paced.__name__ = method
        paced.__qualname__ = f"{self._name}.{method}"
        return paced
