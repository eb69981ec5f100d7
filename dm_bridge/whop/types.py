"""Typed views of Whop API objects.

Parsing is deliberately tolerant: every key is optional, unknown keys are ignored, wrong
types and unparseable timestamps become ``None`` (or an empty default) instead of raising.
The untouched response dict stays available as ``raw``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Self, TypeVar

__all__ = [
    "AccessToken",
    "Company",
    "DmChannel",
    "DmMember",
    "Message",
    "MessageAuthor",
    "Page",
    "PageInfo",
    "User",
    "UserRef",
    "parse_timestamp",
]

T = TypeVar("T")


def _raw() -> Any:
    """The original response dict: kept for fields we do not model, out of repr and ==."""
    return field(default_factory=dict, repr=False, compare=False)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _id(data: Mapping[str, Any], key: str = "id") -> str:
    return _str(data, key) or ""


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    return value if isinstance(value, bool) else False


def _from_epoch(number: float, unit_seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(number * unit_seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_timestamp(value: Any, *, numbers_are: str = "ms") -> datetime | None:
    """An aware UTC datetime from Whop's timestamp formats, or ``None``.

    Accepts ISO 8601 strings (naive ones are taken as UTC) and epoch numbers or digit strings.
    ``numbers_are="ms"`` for fields Whop documents as milliseconds (channel ``created_at``,
    member ``last_viewed_at``); ``"auto"`` guesses seconds vs milliseconds by magnitude.
    """
    if value is None or isinstance(value, bool):
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    else:
        return None
    if not math.isfinite(number):
        return None
    if numbers_are == "ms" or abs(number) >= 1e11:  # 1e11 s is year 5138; 1e11 ms is 1973
        return _from_epoch(number, 0.001)
    return _from_epoch(number, 1.0)


def _time(data: Mapping[str, Any], key: str, *, numbers_are: str = "auto") -> datetime | None:
    return parse_timestamp(data.get(key), numbers_are=numbers_are)


@dataclass(frozen=True)
class DmChannel:
    id: str
    created_at: datetime | None = None
    last_message_at: datetime | None = None
    name: str | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            id=_id(data),
            created_at=_time(data, "created_at", numbers_are="ms"),
            last_message_at=_time(data, "last_message_at"),
            name=_str(data, "name"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class DmMember:
    id: str
    channel_id: str | None = None
    user_id: str | None = None
    last_viewed_at: datetime | None = None
    notification_preference: str | None = None
    status: str | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            id=_id(data),
            channel_id=_str(data, "channel_id"),
            user_id=_str(data, "user_id"),
            last_viewed_at=_time(data, "last_viewed_at", numbers_are="ms"),
            notification_preference=_str(data, "notification_preference"),
            status=_str(data, "status"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class MessageAuthor:
    id: str
    name: str | None = None
    username: str | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            id=_id(data), name=_str(data, "name"), username=_str(data, "username"), raw=dict(data)
        )


@dataclass(frozen=True)
class Message:
    id: str
    content: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    is_edited: bool = False
    is_pinned: bool = False
    message_type: str | None = None
    user: MessageAuthor | None = None
    replying_to_message_id: str | None = None
    channel_id: str | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        user = data.get("user")
        return cls(
            id=_id(data),
            content=_str(data, "content"),
            created_at=_time(data, "created_at"),
            updated_at=_time(data, "updated_at"),
            is_edited=_bool(data, "is_edited"),
            is_pinned=_bool(data, "is_pinned"),
            message_type=_str(data, "message_type"),
            user=MessageAuthor.from_api(user) if isinstance(user, Mapping) else None,
            replying_to_message_id=_str(data, "replying_to_message_id"),
            channel_id=_str(data, "channel_id"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class User:
    id: str
    username: str | None = None
    name: str | None = None
    bio: str | None = None
    created_at: datetime | None = None
    profile_picture_url: str | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            id=_id(data),
            username=_str(data, "username"),
            name=_str(data, "name"),
            bio=_str(data, "bio"),
            created_at=_time(data, "created_at"),
            profile_picture_url=_str(_mapping(data.get("profile_picture")), "url"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class UserRef:
    id: str
    name: str | None = None
    username: str | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            id=_id(data), name=_str(data, "name"), username=_str(data, "username"), raw=dict(data)
        )


@dataclass(frozen=True)
class Company:
    id: str
    title: str | None = None
    owner_user: UserRef | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_company_id: str | None = None
    created_at: datetime | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        owner = data.get("owner_user")
        return cls(
            id=_id(data),
            title=_str(data, "title"),
            owner_user=UserRef.from_api(owner) if isinstance(owner, Mapping) else None,
            metadata=dict(_mapping(data.get("metadata"))),
            parent_company_id=_str(data, "parent_company_id"),
            created_at=_time(data, "created_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AccessToken:
    """A short-lived user token. ``token`` is a credential: kept out of ``repr`` and ``raw``'s repr."""

    token: str = field(repr=False)
    expires_at: datetime | None = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            token=_str(data, "token") or "", expires_at=_time(data, "expires_at"), raw=dict(data)
        )


@dataclass(frozen=True)
class PageInfo:
    end_cursor: str | None = None
    start_cursor: str | None = None
    has_next_page: bool = False
    has_previous_page: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        data = _mapping(data)
        return cls(
            end_cursor=_str(data, "end_cursor"),
            start_cursor=_str(data, "start_cursor"),
            has_next_page=_bool(data, "has_next_page"),
            has_previous_page=_bool(data, "has_previous_page"),
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    page_info: PageInfo = field(default_factory=PageInfo)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any], item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
        data = _mapping(data)
        items = data.get("data")
        return cls(
            data=[item(entry) for entry in items if isinstance(entry, Mapping)]
            if isinstance(items, list)
            else [],
            page_info=PageInfo.from_api(data.get("page_info")),
            raw=dict(data),
        )

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
