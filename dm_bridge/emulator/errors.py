"""Whop-shaped error responses: ``{"error": {"type", "message", "param"?}}``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

ERROR_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    413: "invalid_request",
    422: "invalid_request",
    429: "rate_limit_exceeded",
}


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "server_error" if status >= 500 else "invalid_request"


class ApiError(Exception):
    """An error answer; raised anywhere below the HTTP layer and rendered there."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.error_type = error_type or error_type_for(status)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.param:
            error["param"] = self.param
        return {"error": error}


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param)


def unprocessable(message: str, param: str | None = None) -> ApiError:
    return ApiError(422, message, param=param)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message)


def forbidden(message: str, param: str | None = None) -> ApiError:
    return ApiError(403, message, param=param)


def not_found(message: str, param: str | None = None) -> ApiError:
    return ApiError(404, message, param=param)


def conflict(message: str, param: str | None = None) -> ApiError:
    return ApiError(409, message, param=param)


def rate_limited(seconds: int) -> ApiError:
    """The one 429 shape, used by the real limiter and by injected faults alike."""
    seconds = max(1, int(seconds))
    return ApiError(
        429,
        f"Try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
    )


def server_error(status: int = 500) -> ApiError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server error"
    return ApiError(status, f"{phrase}. Please try again later.")
