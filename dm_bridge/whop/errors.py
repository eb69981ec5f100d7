"""dm_bridge's exceptions for Whop calls, and the one table that classifies the SDK's failures.

The official SDK raises ``ApiError`` subclasses (an HTTP error status), ``ParsingError`` (a 2xx
whose body does not fit its model) or plain ``httpx`` errors (no response). dm_bridge turns
each into a :class:`WhopError` carrying the two decisions the task layer needs:

* ``retryable`` — would the same request plausibly succeed later?
* ``ambiguous`` — may the request have reached Whop, so its side effect may have happened?

Both are decided here and only here: :data:`STATUS_TABLE` for HTTP error statuses and
:data:`TRANSPORT_TABLE` for failures below HTTP. Nothing retries inside a call; callers do.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from whop_sdk.core.api_error import ApiError
from whop_sdk.core.parse_error import ParsingError

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
    "error_from_sdk",
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


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def parse_retry_after(
    headers: Mapping[str, str] | None, message: str | None = None
) -> float | None:
    """Seconds to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP date),
    else Whop's message text ("Try again in 12 seconds."), else ``None``."""
    millis = _header(headers, "retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if math.isfinite(value) and value >= 0:
            return value
    header = _header(headers, "retry-after")
    if header:
        text = header.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
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


def _excerpt(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return " ".join(text[:_EXCERPT_CHARS].split())


def _redacted(text: str, redact: tuple[str, ...]) -> str:
    for secret in redact:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def error_from_sdk(
    exc: BaseException, operation: str, *, redact: tuple[str, ...] = ()
) -> WhopError:
    """The :class:`WhopError` for anything a call through the SDK raised.

    Raises ``exc`` itself again when it is not a Whop failure (a bug on our side, e.g. a
    ``TypeError`` from a wrong argument): those must not be retried as if Whop had failed.
    """
    if isinstance(exc, WhopError):
        return exc
    if isinstance(exc, httpx.RequestError):
        return _from_transport(exc, operation, redact)
    if isinstance(exc, ParsingError):
        # A success whose body does not fit Whop's model: the call happened (ambiguous) and
        # sending it again will not change the answer.
        return WhopAPIError(
            _redacted(f"response does not match the SDK's model: {exc.cause}", redact)[:500],
            status=exc.status_code,
            retryable=False,
            ambiguous=True,
            operation=operation,
        )
    if isinstance(exc, ApiError):
        return _from_status(exc, operation, redact)
    raise exc


def _from_status(exc: ApiError, operation: str, redact: tuple[str, ...]) -> WhopAPIError:
    status = exc.status_code or 0
    if 200 <= status < 300:  # the SDK could not decode a success body (not JSON)
        return WhopAPIError(
            _redacted(f"response body is not JSON: {_excerpt(exc.body)}", redact),
            status=status,
            retryable=False,
            ambiguous=True,
            operation=operation,
        )
    body = exc.body
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        # Some gateways send {"message": ...}, {"error": "text"} or HTML; keep what there is.
        error = (
            {"message": error}
            if isinstance(error, str)
            else (body if isinstance(body, Mapping) else {})
        )
    message = _as_optional_str(error.get("message"))
    if not message:
        excerpt = _excerpt(body) if body not in (None, "") else ""
        message = f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}"
    message = _redacted(message, redact)
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
        retry_after=parse_retry_after(exc.headers, message),
        ambiguous=outcome.ambiguous,
        operation=operation,
    )


def _from_transport(exc: httpx.RequestError, operation: str, redact: tuple[str, ...]) -> WhopError:
    outcome = transport_outcome(exc)
    return outcome.error_class(
        _redacted(f"{type(exc).__name__}: {str(exc) or 'no detail'}", redact),
        retryable=outcome.retryable,
        ambiguous=outcome.ambiguous,
        operation=operation,
    )
