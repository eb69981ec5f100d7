"""Reading fields out of JSON bodies and query strings, with Whop-shaped errors.

Missing fields and wrong JSON types are 400 (a malformed request); values of the right type
that break a rule (unknown user, too many members, out-of-range page size) are 422.
"""

from __future__ import annotations

import re
from typing import Any

from dm_bridge.emulator.errors import ApiError, bad_request, unprocessable

ABSENT = object()

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def require_str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise bad_request(f"Missing required parameter: {name}.", name)
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string.", name)
    if not value.strip():
        raise bad_request(f"{name} must not be empty.", name)
    return value


def optional_str(data: dict[str, Any], name: str, *, max_length: int | None = None) -> Any:
    """A string, ``None`` (explicit null) or ``ABSENT`` when the key is not there."""
    if name not in data:
        return ABSENT
    value = data[name]
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string or null.", name)
    if max_length is not None and len(value) > max_length:
        raise unprocessable(f"{name} must be at most {max_length} characters.", name)
    return value


def optional_bool(data: dict[str, Any], name: str) -> Any:
    if name not in data or data[name] is None:
        return ABSENT
    value = data[name]
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be a boolean.", name)
    return value


def optional_object(data: dict[str, Any], name: str) -> Any:
    if name not in data:
        return ABSENT
    value = data[name]
    if value is not None and not isinstance(value, dict):
        raise bad_request(f"{name} must be an object or null.", name)
    return value


def require_str_list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        raise bad_request(f"Missing required parameter: {name}.", name)
    return _str_list(value, name)


def optional_str_list(data: dict[str, Any], name: str) -> Any:
    if name not in data or data[name] is None:
        return ABSENT
    return _str_list(data[name], name)


def _str_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise bad_request(f"{name} must be an array of strings.", name)
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise bad_request(f"{name} must contain only non-empty strings.", name)
    return list(value)


def choice(data: dict[str, Any], name: str, allowed: tuple[str, ...]) -> Any:
    if name not in data or data[name] is None:
        return ABSENT
    value = data[name]
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string.", name)
    if value not in allowed:
        raise unprocessable(f"{name} must be one of: {', '.join(allowed)} (got {value!r}).", name)
    return value


def present(value: Any) -> bool:
    return value is not ABSENT


def company_param(data: dict[str, Any]) -> str | None:
    """``company_id`` or its newer spelling ``account_id``; both must agree when both are sent."""
    values = {}
    for name in ("company_id", "account_id"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"{name} must be a non-empty string.", name)
        values[name] = value
    if len(set(values.values())) > 1:
        raise bad_request("company_id and account_id name different companies.", "account_id")
    return next(iter(values.values()), None)


def email(data: dict[str, Any], name: str) -> str:
    value = require_str(data, name).strip()
    if not EMAIL_RE.match(value):
        raise unprocessable(f"{name} must be an email address (got {value!r}).", name)
    return value


__all__ = [
    "ABSENT",
    "ApiError",
    "EMAIL_RE",
    "choice",
    "company_param",
    "email",
    "optional_bool",
    "optional_object",
    "optional_str",
    "optional_str_list",
    "present",
    "require_str",
    "require_str_list",
]
