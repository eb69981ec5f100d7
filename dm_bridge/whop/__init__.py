"""Whop through its official SDK: ``WhopAdapter`` (pacing, attempt hook, idempotency keys) and
dm_bridge's exceptions. Results are the SDK's own models (``whop_sdk.types``)."""

from .client import (
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    Pacer,
    WhopAdapter,
    build_sdk,
)
from .errors import (
    STATUS_TABLE,
    TRANSPORT_TABLE,
    WhopAPIError,
    WhopAuthenticationError,
    WhopBadRequestError,
    WhopConflictError,
    WhopConnectionError,
    WhopError,
    WhopNotFoundError,
    WhopPermissionError,
    WhopRateLimitError,
    WhopServerError,
    WhopTimeoutError,
    WhopValidationError,
    error_from_sdk,
    parse_retry_after,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "STATUS_TABLE",
    "TRANSPORT_TABLE",
    "Pacer",
    "WhopAPIError",
    "WhopAdapter",
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
    "build_sdk",
    "error_from_sdk",
    "parse_retry_after",
]
