"""Exceptions raised by :class:`dm_bridge.whop.WhopClient`.

Every failure is a :class:`WhopError` carrying two decisions the task layer needs:

* ``retryable`` — would the same request plausibly succeed later?
* ``ambiguous`` — may the request have reached Whop, so its side effect may have happened?

Both are decided here and only here: :data:`STATUS_TABLE` for HTTP error responses and
:data:`TRANSPORT_TABLE` for failures below HTTP. The client never retries; callers do.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from dm_bridge.exceptions import DmBridgeError

__all__ = [
    "STATUS_TABLE",
    "TRANSPORT_TABLE",
    "WhopAPIError",
    "WhopAuthenticationError",
    "WhopBadRequestError",
    "WhopConflictError",
    "WhopConnectionError",
    "WhopError",
    "WhopNotFoundError",
    "WhopPermissionError",
    "WhopRateLimitError",
    "WhopServerError",
    "WhopTimeoutError",
    "WhopValidationError",
    "error_from_response",
    "error_from_transport",
    "parse_retry_after",
    "status_outcome",
    "transport_outcome",
]


class WhopError(DmBridgeError):
    """A call to the Whop API failed.

    ``args[0]`` is the plain message so the exception pickles (Celery results) with all its
    attributes; ``str()`` adds the operation and status.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        ambiguous: bool = False,
        operation: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.code = code
        self.param = param
        self.retryable = retryable
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        self.operation = operation

    def __str__(self) -> str:
        outcome = " ".join(str(part) for part in (self.status, self.error_type) if part is not None)
        text = f"{outcome}: {self.message}" if outcome else self.message
        return f"{self.operation} → {text}" if self.operation else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation={self.operation!r}, status={self.status!r}, "
            f"error_type={self.error_type!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, ambiguous={self.ambiguous!r})"
        )


class WhopAPIError(WhopError):
    """Whop answered with an HTTP error status (or an unusable success body)."""


class WhopBadRequestError(WhopAPIError):
    """400: malformed request or missing field."""


class WhopAuthenticationError(WhopAPIError):
    """401: the credential is unknown, expired, or belongs to another environment."""


class WhopPermissionError(WhopAPIError, PermissionError):
    """403: the credential lacks a permission or scope."""


class WhopNotFoundError(WhopAPIError, LookupError):
    """404: no such object, or not visible to this credential (e.g. not a DM member)."""


class WhopConflictError(WhopAPIError):
    """409: conflicts with the object's current state."""


class WhopValidationError(WhopAPIError, ValueError):
    """422: the request was understood but its values were rejected."""


class WhopRateLimitError(WhopAPIError):
    """429: over the per-operation rate limit; see ``retry_after``."""


class WhopServerError(WhopAPIError):
    """5xx: Whop failed; the request may or may not have taken effect."""


class WhopConnectionError(WhopError):
    """Could not connect, or the connection broke before a response arrived."""


class WhopTimeoutError(WhopError, TimeoutError):
    """No connection or no response within the client's timeout."""


@dataclass(frozen=True)
class Outcome:
    """What a failure means: which exception, whether to retry, whether it may have happened."""

    error_class: type[WhopError]
    retryable: bool
    ambiguous: bool


# THE retry table for HTTP responses. 408/409/429/5xx are retryable, other 4xx permanent;
# only 5xx leaves the side effect in doubt (a 4xx is a refusal, a 429/408 a non-attempt).
STATUS_TABLE: Mapping[int, Outcome] = {
    400: Outcome(WhopBadRequestError, retryable=False, ambiguous=False),
    401: Outcome(WhopAuthenticationError, retryable=False, ambiguous=False),
    403: Outcome(WhopPermissionError, retryable=False, ambiguous=False),
    404: Outcome(WhopNotFoundError, retryable=False, ambiguous=False),
    408: Outcome(WhopAPIError, retryable=True, ambiguous=False),
    409: Outcome(WhopConflictError, retryable=True, ambiguous=False),
    422: Outcome(WhopValidationError, retryable=False, ambiguous=False),
    429: Outcome(WhopRateLimitError, retryable=True, ambiguous=False),
    **{
        status: Outcome(WhopServerError, retryable=True, ambiguous=True)
        for status in range(500, 600)
    },
}
_OTHER_STATUS = Outcome(WhopAPIError, retryable=False, ambiguous=False)

# THE retry table for failures below HTTP, most specific class first. All are retryable;
# ambiguous when the request may already have been sent (read/write phase), not when the
# connection was never made.
TRANSPORT_TABLE: tuple[tuple[type[httpx.RequestError], Outcome], ...] = (
    (httpx.ConnectTimeout, Outcome(WhopTimeoutError, retryable=True, ambiguous=False)),
    (httpx.PoolTimeout, Outcome(WhopTimeoutError, retryable=True, ambiguous=False)),
    (httpx.ReadTimeout, Outcome(WhopTimeoutError, retryable=True, ambiguous=True)),
    (httpx.WriteTimeout, Outcome(WhopTimeoutError, retryable=True, ambiguous=True)),
    (httpx.TimeoutException, Outcome(WhopTimeoutError, retryable=True, ambiguous=True)),
    (httpx.ConnectError, Outcome(WhopConnectionError, retryable=True, ambiguous=False)),
    (httpx.ProxyError, Outcome(WhopConnectionError, retryable=True, ambiguous=False)),
    (httpx.RemoteProtocolError, Outcome(WhopConnectionError, retryable=True, ambiguous=True)),
    (httpx.ReadError, Outcome(WhopConnectionError, retryable=True, ambiguous=True)),
    (httpx.WriteError, Outcome(WhopConnectionError, retryable=True, ambiguous=True)),
    # Our own request could not be formed or sent (bad URL scheme, invalid header):
    # it never left, and sending it again will fail the same way.
    (httpx.UnsupportedProtocol, Outcome(WhopConnectionError, retryable=False, ambiguous=False)),
    (httpx.LocalProtocolError, Outcome(WhopConnectionError, retryable=False, ambiguous=False)),
    (httpx.RequestError, Outcome(WhopConnectionError, retryable=True, ambiguous=True)),
)


def status_outcome(status: int) -> Outcome:
    return STATUS_TABLE.get(status, _OTHER_STATUS)


def transport_outcome(exc: httpx.RequestError) -> Outcome:
    for exc_class, outcome in TRANSPORT_TABLE:
        if isinstance(exc, exc_class):
            return outcome
    raise AssertionError("httpx.RequestError is the table's catch-all")  # pragma: no cover


_RETRY_IN_TEXT = re.compile(r"try again in\s+(\d+(?:\.\d+)?)\s*seconds?\b", re.IGNORECASE)


def parse_retry_after(header: str | None, message: str | None = None) -> float | None:
    """Seconds to wait: the ``Retry-After`` header (seconds or HTTP date), else Whop's
    message text ("Try again in 12 seconds."), else ``None``."""
    if header:
        value = header.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None and when.tzinfo is not None:
                return max(0.0, when.timestamp() - time.time())
        else:
            if math.isfinite(seconds) and seconds >= 0:
                return seconds
    if message:
        match = _RETRY_IN_TEXT.search(message)
        if match:
            return float(match.group(1))
    return None


_EXCERPT_CHARS = 200


def _as_optional_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def error_from_response(
    response: httpx.Response, operation: str, *, redact: tuple[str, ...] = ()
) -> WhopAPIError:
    """Build the exception for an HTTP error response, reading the error envelope tolerantly."""
    status = response.status_code
    envelope: Any = None
    try:
        envelope = response.json()
    except (ValueError, UnicodeDecodeError):
        envelope = None
    error = envelope.get("error") if isinstance(envelope, Mapping) else None
    if not isinstance(error, Mapping):
        # Some gateways send {"message": ...} or {"error": "text"}; keep what there is.
        error = (
            {"message": error}
            if isinstance(error, str)
            else (envelope if isinstance(envelope, Mapping) else {})
        )

    message = _as_optional_str(error.get("message"))
    if not message:
        reason = response.reason_phrase or "HTTP error"
        excerpt = " ".join(response.text[:_EXCERPT_CHARS].split()) if response.content else ""
        message = f"{reason}: {excerpt}" if excerpt else reason
    for secret in redact:
        if secret:
            message = message.replace(secret, "[redacted]")

    outcome = status_outcome(status)
    error_class = (
        outcome.error_class if issubclass(outcome.error_class, WhopAPIError) else WhopAPIError
    )
    return error_class(
        message,
        status=status,
        error_type=_as_optional_str(error.get("type")),
        code=_as_optional_str(error.get("code")),
        param=_as_optional_str(error.get("param")),
        retryable=outcome.retryable,
        retry_after=parse_retry_after(response.headers.get("Retry-After"), message),
        ambiguous=outcome.ambiguous,
        operation=operation,
    )


def error_from_transport(
    exc: httpx.RequestError, operation: str, *, redact: tuple[str, ...] = ()
) -> WhopError:
    """Build the exception for a failure below HTTP (no response)."""
    outcome = transport_outcome(exc)
    detail = str(exc) or "no detail"
    for secret in redact:
        if secret:
            detail = detail.replace(secret, "[redacted]")
    return outcome.error_class(
        f"{type(exc).__name__}: {detail}",
        retryable=outcome.retryable,
        ambiguous=outcome.ambiguous,
        operation=operation,
    )


def invalid_response(response: httpx.Response, operation: str, problem: str) -> WhopAPIError:
    """A 2xx whose body we cannot use. The call did happen, so it is ambiguous, not retryable."""
    excerpt = " ".join(response.text[:_EXCERPT_CHARS].split())
    return WhopAPIError(
        f"{problem}: {excerpt}" if excerpt else problem,
        status=response.status_code,
        retryable=False,
        ambiguous=True,
        operation=operation,
    )
