"""A small synchronous client for the parts of the Whop REST API that dm_bridge uses.

One ``httpx.Client`` per ``WhopClient``; explicit timeouts; no retries of any kind (the task
layer decides, using each error's ``retryable`` / ``ambiguous`` / ``retry_after``).
The credential is only ever placed in the ``Authorization`` header: it is not in ``repr``,
log lines or exception messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

import dm_bridge

from .errors import WhopError, error_from_response, error_from_transport, invalid_response
from .types import AccessToken, Company, DmChannel, DmMember, Message, Page, User

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "WhopClient"]

logger = logging.getLogger("dm_bridge.whop")

DEFAULT_BASE_URL = "https://api.whop.com/api/v1"
DEFAULT_API_VERSION = "2026-10-15-1"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

T = TypeVar("T")
Params = Mapping[str, Any]


def _path_id(value: str, name: str) -> str:
    """One URL path segment from an ID: quoted, never empty, never a dot segment."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip() or value in (".", ".."):
        raise ValueError(f"{name} must be a non-empty ID, got {value!r}")
    return quote(value, safe="")


def _required(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def _str_list(values: Sequence[str], name: str) -> list[str]:
    # A bare string is a Sequence[str] too; list("user_x") would silently send characters.
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a list of strings, not a single string")
    return [str(value) for value in values]


def _compact(**fields: Any) -> dict[str, Any]:
    """Only the fields that were given: ``None`` means "not sent", not "send null"."""
    return {key: value for key, value in fields.items() if value is not None}


def _cursor_params(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> dict[str, Any]:
    return _compact(first=first, after=after, last=last, before=before)


def _iso(value: datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class WhopClient:
    """Whop REST API v1: DM channels, DM members, messages, users, connected accounts, tokens.

    ``api_key`` is a company/app API key or a user access token; it is sent as a Bearer
    credential and never shown. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self._api_key = api_key
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {api_key}",
                "Api-Version-Date": api_version,
                "User-Agent": user_agent or f"dm-bridge/{dm_bridge.__version__}",
                "Accept": "application/json",
            },
            timeout=timeout,
            transport=transport if transport is not None else httpx.HTTPTransport(retries=0),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WhopClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        template: str,
        *,
        ids: Mapping[str, str] | None = None,
        params: Params | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request; return the 2xx response or raise a :class:`WhopError`.

        ``template`` is the path with ``{name}`` placeholders, e.g. ``/dm_channels/{channel_id}``;
        it names the operation in errors, while the log line shows the concrete path.
        """
        path = template.format(**{key: _path_id(value, key) for key, value in (ids or {}).items()})
        operation = f"{method} {template}"
        redact = (self._api_key,)
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.RequestError as exc:
            self._log(method, path, type(exc).__name__, started)
            raise error_from_transport(exc, operation, redact=redact) from exc
        self._log(method, path, response.status_code, started)
        if response.is_success:
            return response
        raise error_from_response(response, operation, redact=redact)

    @staticmethod
    def _log(method: str, path: str, outcome: int | str, started: float) -> None:
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        logger.debug(
            "whop %s %s -> %s in %d ms",
            method,
            path,
            outcome,
            elapsed_ms,
            extra={
                "whop_method": method,
                "whop_path": path,
                "whop_outcome": outcome,
                "whop_ms": elapsed_ms,
            },
        )

    def _object(
        self, parse: Callable[[Mapping[str, Any]], T], method: str, template: str, **kwargs: Any
    ) -> T:
        response = self._request(method, template, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise invalid_response(
                response, f"{method} {template}", "response body is not JSON"
            ) from None
        if not isinstance(body, Mapping):
            raise invalid_response(
                response, f"{method} {template}", "response body is not a JSON object"
            )
        return parse(body)

    def _page(
        self,
        parse: Callable[[Mapping[str, Any]], T],
        template: str,
        params: Params,
        ids: Mapping[str, str] | None = None,
    ) -> Page[T]:
        return self._object(
            lambda body: Page.from_api(body, parse), "GET", template, ids=ids, params=params
        )

    def _delete(self, template: str, ids: Mapping[str, str]) -> None:
        self._request("DELETE", template, ids=ids)  # Whop answers `true`; nothing to return

    def _walk(self, fetch: Callable[[str | None], Page[T]], operation: str) -> Iterator[T]:
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = fetch(after)
            yield from page.data
            cursor = page.page_info.end_cursor
            if not page.page_info.has_next_page or not cursor or not page.data:
                return
            if cursor in seen:
                raise WhopError(f"pagination cursor {cursor!r} repeated", operation=operation)
            seen.add(cursor)
            after = cursor

    @staticmethod
    def _page_size(page_size: int) -> int:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return page_size

    # --- DM channels ------------------------------------------------------------------------
    def create_dm_channel(
        self,
        with_user_ids: Sequence[str],
        *,
        company_id: str | None = None,
        custom_name: str | None = None,
        notifications_enabled: bool | None = None,
    ) -> DmChannel:
        """Get-or-create: Whop returns the existing channel for the same member set and company."""
        body = {
            "with_user_ids": _str_list(with_user_ids, "with_user_ids"),
            **_compact(
                account_id=company_id,
                custom_name=custom_name,
                notifications_enabled=notifications_enabled,
            ),
        }
        return self._object(DmChannel.from_api, "POST", "/dm_channels", json=body)

    def retrieve_dm_channel(self, channel_id: str) -> DmChannel:
        return self._object(
            DmChannel.from_api, "GET", "/dm_channels/{channel_id}", ids={"channel_id": channel_id}
        )

    def update_dm_channel(self, channel_id: str, *, custom_name: str | None) -> DmChannel:
        """Set the channel's custom name; ``None`` clears it (sent as JSON null)."""
        return self._object(
            DmChannel.from_api,
            "PATCH",
            "/dm_channels/{channel_id}",
            ids={"channel_id": channel_id},
            json={"custom_name": custom_name},
        )

    def list_dm_channels(
        self,
        *,
        company_id: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[DmChannel]:
        params = {**_compact(account_id=company_id), **_cursor_params(first, after, last, before)}
        return self._page(DmChannel.from_api, "/dm_channels", params)

    def iter_dm_channels(
        self, *, company_id: str | None = None, page_size: int = 100
    ) -> Iterator[DmChannel]:
        size = self._page_size(page_size)
        return self._walk(
            lambda after: self.list_dm_channels(company_id=company_id, first=size, after=after),
            "GET /dm_channels",
        )

    def delete_dm_channel(self, channel_id: str) -> None:
        self._delete("/dm_channels/{channel_id}", {"channel_id": channel_id})

    # --- DM members -------------------------------------------------------------------------
    def create_dm_member(self, channel_id: str, user_id: str) -> DmMember:
        body = {
            "channel_id": _required(channel_id, "channel_id"),
            "user_id": _required(user_id, "user_id"),
        }
        return self._object(DmMember.from_api, "POST", "/dm_members", json=body)

    def retrieve_dm_member(self, member_id: str) -> DmMember:
        return self._object(
            DmMember.from_api, "GET", "/dm_members/{member_id}", ids={"member_id": member_id}
        )

    def update_dm_member(
        self,
        member_id: str,
        *,
        notification_preference: str | None = None,
        status: str | None = None,
    ) -> DmMember:
        return self._object(
            DmMember.from_api,
            "PATCH",
            "/dm_members/{member_id}",
            ids={"member_id": member_id},
            json=_compact(notification_preference=notification_preference, status=status),
        )

    def list_dm_members(
        self,
        channel_id: str,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[DmMember]:
        params = {
            "channel_id": _required(channel_id, "channel_id"),
            **_cursor_params(first, after, last, before),
        }
        return self._page(DmMember.from_api, "/dm_members", params)

    def iter_dm_members(self, channel_id: str, *, page_size: int = 100) -> Iterator[DmMember]:
        size = self._page_size(page_size)
        return self._walk(
            lambda after: self.list_dm_members(channel_id, first=size, after=after),
            "GET /dm_members",
        )

    def delete_dm_member(self, member_id: str) -> None:
        self._delete("/dm_members/{member_id}", {"member_id": member_id})

    # --- messages ---------------------------------------------------------------------------
    def create_message(
        self,
        channel_id: str,
        content: str,
        *,
        replying_to_message_id: str | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
        poll: Mapping[str, Any] | None = None,
    ) -> Message:
        """Post as the credential's user (a company API key cannot post as a user)."""
        body = {
            "channel_id": _required(channel_id, "channel_id"),
            "content": content,
            **_compact(
                replying_to_message_id=replying_to_message_id,
                attachments=[dict(item) for item in attachments]
                if attachments is not None
                else None,
                poll=dict(poll) if poll is not None else None,
            ),
        }
        return self._object(Message.from_api, "POST", "/messages", json=body)

    def retrieve_message(self, message_id: str) -> Message:
        return self._object(
            Message.from_api, "GET", "/messages/{message_id}", ids={"message_id": message_id}
        )

    def update_message(
        self, message_id: str, *, content: str | None = None, is_pinned: bool | None = None
    ) -> Message:
        return self._object(
            Message.from_api,
            "PATCH",
            "/messages/{message_id}",
            ids={"message_id": message_id},
            json=_compact(content=content, is_pinned=is_pinned),
        )

    def delete_message(self, message_id: str) -> None:
        self._delete("/messages/{message_id}", {"message_id": message_id})

    def list_messages(
        self,
        channel_id: str,
        *,
        direction: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[Message]:
        params = {
            "channel_id": _required(channel_id, "channel_id"),
            **_compact(direction=direction),
            **_cursor_params(first, after, last, before),
        }
        return self._page(Message.from_api, "/messages", params)

    def iter_messages(
        self, channel_id: str, *, direction: str = "asc", page_size: int = 100
    ) -> Iterator[Message]:
        size = self._page_size(page_size)
        return self._walk(
            lambda after: self.list_messages(
                channel_id, direction=direction, first=size, after=after
            ),
            "GET /messages",
        )

    # --- users ------------------------------------------------------------------------------
    def retrieve_user(self, user_id: str, *, company_id: str | None = None) -> User:
        """The user; with ``company_id``, that company's profile override (name, avatar)."""
        return self._object(
            User.from_api,
            "GET",
            "/users/{user_id}",
            ids={"user_id": user_id},
            params=_compact(account_id=company_id),
        )

    def list_users(
        self,
        *,
        query: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[User]:
        params = {**_compact(query=query), **_cursor_params(first, after, last, before)}
        return self._page(User.from_api, "/users", params)

    def iter_users(self, *, query: str | None = None, page_size: int = 100) -> Iterator[User]:
        size = self._page_size(page_size)
        return self._walk(
            lambda after: self.list_users(query=query, first=size, after=after), "GET /users"
        )

    def update_user(
        self,
        user_id: str,
        *,
        company_id: str | None = None,
        name: str | None = None,
        username: str | None = None,
        bio: str | None = None,
        profile_picture: Mapping[str, Any] | str | None = None,
    ) -> User:
        """Update a profile; with ``company_id``, the per-company name/avatar shown in its chat."""
        picture = dict(profile_picture) if isinstance(profile_picture, Mapping) else profile_picture
        body = _compact(
            account_id=company_id, name=name, username=username, bio=bio, profile_picture=picture
        )
        return self._object(
            User.from_api, "PATCH", "/users/{user_id}", ids={"user_id": user_id}, json=body
        )

    # --- companies (connected accounts) -----------------------------------------------------
    def create_company(
        self,
        *,
        email: str,
        parent_company_id: str,
        title: str,
        metadata: Mapping[str, Any] | None = None,
        send_customer_emails: bool = False,
    ) -> Company:
        """Enrol a connected account; its ``owner_user`` is the new Whop user. NOT idempotent."""
        body = {
            "email": _required(email, "email"),
            "parent_company_id": _required(parent_company_id, "parent_company_id"),
            "title": title,
            "send_customer_emails": send_customer_emails,
            **_compact(metadata=dict(metadata) if metadata is not None else None),
        }
        return self._object(Company.from_api, "POST", "/companies", json=body)

    def retrieve_company(self, company_id: str) -> Company:
        return self._object(
            Company.from_api, "GET", "/companies/{company_id}", ids={"company_id": company_id}
        )

    def list_companies(
        self,
        *,
        parent_company_id: str,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[Company]:
        params = {
            "parent_company_id": _required(parent_company_id, "parent_company_id"),
            **_cursor_params(first, after, last, before),
        }
        return self._page(Company.from_api, "/companies", params)

    def iter_companies(self, *, parent_company_id: str, page_size: int = 100) -> Iterator[Company]:
        size = self._page_size(page_size)
        return self._walk(
            lambda after: self.list_companies(
                parent_company_id=parent_company_id, first=size, after=after
            ),
            "GET /companies",
        )

    # --- access tokens ----------------------------------------------------------------------
    def create_access_token(
        self,
        *,
        user_id: str,
        company_id: str,
        scoped_actions: Sequence[str],
        expires_at: datetime | None = None,
    ) -> AccessToken:
        """Mint a short-lived token for ``user_id`` in ``company_id``, limited to ``scoped_actions``.

        An empty scope list is refused: Whop treats a missing list as "all of the key's
        permissions", and an empty one is too close to that to risk.
        """
        actions = _str_list(scoped_actions, "scoped_actions")
        if not actions:
            raise ValueError("scoped_actions must name at least one action")
        body = {
            "user_id": _required(user_id, "user_id"),
            "account_id": _required(company_id, "company_id"),
            "scoped_actions": actions,
            **_compact(
                expires_at=_iso(expires_at, "expires_at") if expires_at is not None else None
            ),
        }
        return self._object(AccessToken.from_api, "POST", "/access_tokens", json=body)
