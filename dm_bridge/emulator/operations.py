"""The REST operations under /api/v1, one method per ``<resource>.<action>``.

Each method runs inside the server's lock and one SQLite transaction; it returns the JSON to
send (or raises an :class:`ApiError`). Side effects outside the database (webhooks) are queued
on ``call.after_commit`` and run only once the transaction committed.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dm_bridge.emulator import validation as v
from dm_bridge.emulator.auth import ALL_SCOPES, Principal, mint_token
from dm_bridge.emulator.errors import (
    ApiError,
    bad_request,
    conflict,
    forbidden,
    not_found,
    unprocessable,
)
from dm_bridge.emulator.pagination import Listing, paginate, parse_page_request
from dm_bridge.emulator.store import Store, iso_from_ms, new_id, now_ms

MAX_MEMBERS = 50
TOKEN_DEFAULT_SECONDS = 3600
TOKEN_MAX_SECONDS = 3 * 3600
NOTIFICATION_PREFERENCES = ("all", "mentions", "none")
MEMBER_STATUSES = ("requested", "accepted", "hidden", "closed", "archived")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
MAX_CONTENT = 20_000
MAX_NAME = 200

# resource -> {(method, has_id): action}; a string instead of has_id is a literal sub-path
# (``GET /users/me``). Operation names are ``<SDK resource>.<SDK method>``.
_CRUD: dict[tuple[str, bool | str], str] = {
    ("POST", False): "create",
    ("GET", False): "list",
    ("GET", True): "retrieve",
    ("PATCH", True): "update",
    ("DELETE", True): "delete",
}
ROUTES: dict[str, dict[tuple[str, bool | str], str]] = {
    "dm_channels": dict(_CRUD),
    "dm_members": dict(_CRUD),
    "messages": dict(_CRUD),
    "reactions": {route: action for route, action in _CRUD.items() if action != "update"},
    "users": {
        ("GET", False): "list",
        ("GET", "me"): "me",
        ("PATCH", "me"): "update_me",
        ("GET", True): "retrieve",
        ("PATCH", True): "update",
    },
    "accounts": {
        ("POST", False): "create",
        ("GET", False): "list",
        ("GET", "me"): "me",
        ("GET", True): "retrieve",
    },
    "companies": {("POST", False): "create", ("GET", False): "list", ("GET", True): "retrieve"},
    "access_tokens": {("POST", False): "create"},
}

OPERATIONS = tuple(
    f"{resource}.{action}" for resource, table in ROUTES.items() for action in table.values()
)

Publisher = Callable[[str, dict[str, Any], str], None]


@dataclass
class Call:
    principal: Principal
    body: dict[str, Any]
    query: dict[str, str]
    path_id: str | None = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def param(self, name: str) -> Any:
        """A parameter from the body (POST/PATCH) or else the query string."""
        if name in self.body:
            return self.body[name]
        return self.query.get(name)

    def company_param(self) -> str | None:
        merged = {k: self.query[k] for k in ("company_id", "account_id") if k in self.query}
        merged.update({k: self.body[k] for k in ("company_id", "account_id") if k in self.body})
        return v.company_param(merged)


class Api:
    def __init__(self, store: Store, publish: Publisher) -> None:
        self.store = store
        self.publish = publish

    def dispatch(self, operation: str, call: Call) -> Any:
        method = getattr(self, operation.replace(".", "_"))
        return method(call)

    # --- shared checks ----------------------------------------------------------------------
    def _company(self, call: Call) -> str:
        """The company a call acts in: the credential's, which a body/query ID must match."""
        requested = call.company_param()
        own = call.principal.company_id
        if requested is not None and requested != own:
            who = "API key" if call.principal.is_api_key else "access token"
            raise forbidden(
                f"This {who} belongs to {own} and cannot act for {requested}.", "company_id"
            )
        return own

    def _channel(self, call: Call, channel_id: str, param: str = "id") -> sqlite3.Row:
        """A channel the caller may see; anything else is 404 (existence is not revealed)."""
        channel = self.store.channel(channel_id)
        principal = call.principal
        visible = (
            channel is not None
            and channel["company_id"] == principal.company_id
            and (
                principal.is_api_key
                or self.store.membership(channel_id, principal.user_id or "") is not None
            )
        )
        if not visible:
            raise not_found(f"DM channel {channel_id} not found.", param)
        assert channel is not None
        return channel

    @staticmethod
    def _is_admin(call: Call, channel: sqlite3.Row) -> bool:
        """Channel admins: the user who created it, and the company itself (API key)."""
        principal = call.principal
        return principal.is_api_key or channel["creator_user_id"] == principal.user_id

    def _require_admin(self, call: Call, channel: sqlite3.Row, action: str) -> None:
        if not self._is_admin(call, channel):
            raise forbidden(
                f"Only a channel admin (its creator or the company API key) can {action}."
            )

    def _acting_user(self, call: Call, channel: sqlite3.Row) -> str:
        """Who authors a write: the token's user, or the company's bot user for the company."""
        if call.principal.user_id:
            return call.principal.user_id
        company = self.store.company(channel["company_id"])
        return (company["bot_user_id"] if company else None) or ""

    def _chat_event(
        self, call: Call, event_type: str, channel: sqlite3.Row, data: dict[str, Any]
    ) -> None:
        """Queue a chat webhook (Whop's payload: reason, audience, channel, message, …)."""
        payload = {
            "reason": event_type.removeprefix("chat.").replace(".", "_"),
            "audience": {"type": "channel"},
            "channel": {"id": channel["id"], "type": "direct_message"},
            **data,
        }
        company_id = channel["company_id"]
        call.after_commit.append(lambda: self.publish(event_type, payload, company_id))

    def _resolve_user(self, ref: str, param: str) -> sqlite3.Row:
        user = self.store.resolve_user(ref)
        if user is None:
            raise unprocessable(f"Unknown user {ref!r} (not a user ID, username or email).", param)
        return user

    def _list(self, call: Call, listing: Listing) -> tuple[list[sqlite3.Row], dict[str, Any]]:
        page = parse_page_request(call.query, listing)
        return paginate(self.store.conn, listing, page)

    # --- dm_channels ------------------------------------------------------------------------
    def dm_channels_create(self, call: Call) -> dict[str, Any]:
        refs = v.require_str_list(call.body, "with_user_ids")
        company_id = self._company(call)
        name = v.optional_str(call.body, "custom_name", max_length=MAX_NAME)
        notifications = v.optional_bool(call.body, "notifications_enabled")
        if not refs:
            raise unprocessable("with_user_ids must name at least one user.", "with_user_ids")
        user_ids = {self._resolve_user(ref, "with_user_ids")["id"] for ref in refs}
        if call.principal.user_id:
            user_ids.add(call.principal.user_id)
        if len(user_ids) > MAX_MEMBERS:
            raise unprocessable(
                f"A DM channel can have at most {MAX_MEMBERS} members (got {len(user_ids)}).",
                "with_user_ids",
            )
        key = ",".join(sorted(user_ids))
        existing = self.store.one(
            "SELECT * FROM channels WHERE company_id = ? AND member_key = ? ORDER BY seq LIMIT 1",
            [company_id, key],
        )
        if existing is not None:
            return self.store.channel_json(existing)
        channel = self.store.create_channel(
            company_id=company_id,
            user_ids=sorted(user_ids),
            name=name if v.present(name) else None,
            creator_user_id=call.principal.user_id,
            notifications_enabled=notifications if v.present(notifications) else True,
        )
        return self.store.channel_json(channel)

    def dm_channels_retrieve(self, call: Call) -> dict[str, Any]:
        return self.store.channel_json(self._channel(call, call.path_id or ""))

    def dm_channels_update(self, call: Call) -> dict[str, Any]:
        channel = self._channel(call, call.path_id or "")
        name = v.optional_str(call.body, "custom_name", max_length=MAX_NAME)
        self._require_admin(call, channel, "rename it")
        if v.present(name):
            self.store.run("UPDATE channels SET name = ? WHERE id = ?", [name, channel["id"]])
        return self.store.channel_json(self._channel(call, channel["id"]))

    def dm_channels_list(self, call: Call) -> dict[str, Any]:
        company_id = self._company(call)
        principal = call.principal
        if principal.is_api_key:
            listing = Listing(
                kind="dm_channels",
                select="c.*",
                from_where="FROM channels c WHERE c.company_id = ?",
                params=[company_id],
                key_columns=("c.activity_ms", "c.seq"),
                descending=True,
            )
        else:
            listing = Listing(
                kind="dm_channels",
                select="c.*",
                from_where=(
                    "FROM channels c WHERE c.company_id = ? AND EXISTS "
                    "(SELECT 1 FROM members m WHERE m.channel_id = c.id AND m.user_id = ?)"
                ),
                params=[company_id, principal.user_id],
                key_columns=("c.activity_ms", "c.seq"),
                descending=True,
            )
        rows, page_info = self._list(call, listing)
        return {"data": [self.store.channel_json(r) for r in rows], "page_info": page_info}

    def dm_channels_delete(self, call: Call) -> bool:
        channel = self._channel(call, call.path_id or "")
        self._require_admin(call, channel, "delete it")
        self.store.delete_channel(channel["id"])
        return True

    # --- dm_members -------------------------------------------------------------------------
    def _member(self, call: Call) -> tuple[sqlite3.Row, sqlite3.Row]:
        member_id = call.path_id or ""
        member = self.store.member(member_id)
        if member is None:
            raise not_found(f"DM member {member_id} not found.", "id")
        try:
            channel = self._channel(call, member["channel_id"])
        except ApiError:
            raise not_found(f"DM member {member_id} not found.", "id") from None
        return member, channel

    def dm_members_create(self, call: Call) -> dict[str, Any]:
        channel_id = v.require_str(call.body, "channel_id")
        user_ref = v.require_str(call.body, "user_id")
        channel = self._channel(call, channel_id, "channel_id")
        self._require_admin(call, channel, "add members")
        user = self._resolve_user(user_ref, "user_id")
        existing = self.store.membership(channel["id"], user["id"])
        if existing is not None:  # idempotent: a retried add converges instead of failing
            return self.store.member_json(existing)
        if self.store.member_count(channel["id"]) >= MAX_MEMBERS:
            raise unprocessable(
                f"DM channel {channel['id']} already has {MAX_MEMBERS} members, the maximum.",
                "user_id",
            )
        return self.store.member_json(self.store.add_member(channel["id"], user["id"]))

    def dm_members_retrieve(self, call: Call) -> dict[str, Any]:
        member, _ = self._member(call)
        return self.store.member_json(member)

    def dm_members_update(self, call: Call) -> dict[str, Any]:
        member, channel = self._member(call)
        preference = v.choice(call.body, "notification_preference", NOTIFICATION_PREFERENCES)
        status = v.choice(call.body, "status", MEMBER_STATUSES)
        if member["user_id"] != call.principal.user_id:
            self._require_admin(call, channel, "change another member")
        if v.present(preference):
            self.store.run(
                "UPDATE members SET notification_preference = ? WHERE id = ?",
                [preference, member["id"]],
            )
        if v.present(status):
            self.store.run("UPDATE members SET status = ? WHERE id = ?", [status, member["id"]])
        updated = self.store.member(member["id"])
        assert updated is not None
        return self.store.member_json(updated)

    def dm_members_list(self, call: Call) -> dict[str, Any]:
        channel_id = v.require_str(call.query, "channel_id")
        channel = self._channel(call, channel_id, "channel_id")
        listing = Listing(
            kind="dm_members",
            from_where="FROM members WHERE channel_id = ?",
            params=[channel["id"]],
            key_columns=("seq",),
            descending=False,
        )
        rows, page_info = self._list(call, listing)
        return {"data": [self.store.member_json(r) for r in rows], "page_info": page_info}

    def dm_members_delete(self, call: Call) -> bool:
        member, channel = self._member(call)
        if member["user_id"] != call.principal.user_id:
            self._require_admin(call, channel, "remove another member")
        self.store.run("DELETE FROM members WHERE id = ?", [member["id"]])
        self.store.refresh_member_key(channel["id"])
        return True

    # --- messages ---------------------------------------------------------------------------
    def _message(
        self, call: Call, message_id: str | None = None, param: str = "id"
    ) -> tuple[sqlite3.Row, sqlite3.Row]:
        """A message in a channel the caller may see (404 otherwise); the path's by default."""
        message_id = (call.path_id or "") if message_id is None else message_id
        message = self.store.message(message_id)
        if message is None:
            raise not_found(f"Message {message_id} not found.", param)
        try:
            channel = self._channel(call, message["channel_id"])
        except ApiError:
            raise not_found(f"Message {message_id} not found.", param) from None
        return message, channel

    def _mark_viewed(self, call: Call, channel_id: str) -> None:
        if call.principal.user_id:
            self.store.run(
                "UPDATE members SET last_viewed_at_ms = ? WHERE channel_id = ? AND user_id = ?",
                [now_ms(), channel_id, call.principal.user_id],
            )

    def messages_create(self, call: Call) -> dict[str, Any]:
        channel_id = v.require_str(call.body, "channel_id")
        content = call.body.get("content")
        if content is None:
            raise bad_request("Missing required parameter: content.", "content")
        if not isinstance(content, str):
            raise bad_request("content must be a string.", "content")
        attachments = call.body.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise bad_request("attachments must be an array.", "attachments")
        poll = v.optional_object(call.body, "poll")
        reply_to = v.optional_str(call.body, "replying_to_message_id")
        channel = self._channel(call, channel_id, "channel_id")
        if not content.strip() and not attachments:
            raise unprocessable("content must not be empty.", "content")
        if len(content) > MAX_CONTENT:
            raise unprocessable(f"content must be at most {MAX_CONTENT} characters.", "content")
        if v.present(reply_to) and reply_to is not None:
            original = self.store.message(reply_to)
            if original is None or original["channel_id"] != channel["id"]:
                raise unprocessable(
                    f"replying_to_message_id {reply_to} is not a message in this channel.",
                    "replying_to_message_id",
                )
        message_type = "automated" if call.principal.is_api_key else "regular"
        message = self.store.create_message(
            channel=channel,
            user_id=self._acting_user(call, channel),
            content=content,
            message_type=message_type,
            replying_to_message_id=reply_to if v.present(reply_to) else None,
            attachments=attachments,
            poll=poll if v.present(poll) else None,
        )
        self._mark_viewed(call, channel["id"])
        shaped = self.store.message_json(message, channel["company_id"])
        self._chat_event(call, "chat.message.created", channel, {"message": shaped})
        return shaped

    def messages_retrieve(self, call: Call) -> dict[str, Any]:
        message, channel = self._message(call)
        return self.store.message_json(message, channel["company_id"])

    def _require_author(
        self, call: Call, message: sqlite3.Row, channel: sqlite3.Row | None, action: str
    ) -> None:
        """The message's author may; so may a channel admin when ``channel`` is given."""
        principal = call.principal
        if principal.is_api_key or message["user_id"] == principal.user_id:
            return
        if channel is not None and self._is_admin(call, channel):
            return
        who = "the author or a channel admin" if channel is not None else "the author"
        raise forbidden(f"Only {who} (or the company API key) can {action} this message.")

    def messages_update(self, call: Call) -> dict[str, Any]:
        message, channel = self._message(call)
        content = v.optional_str(call.body, "content")
        pinned = v.optional_bool(call.body, "is_pinned")
        if v.present(content) or "attachments" in call.body:
            self._require_author(call, message, None, "edit")
        self._require_author(call, message, channel, "pin or unpin")
        if v.present(content) and content is not None:
            if not content.strip():
                raise unprocessable("content must not be empty.", "content")
            if len(content) > MAX_CONTENT:
                raise unprocessable(f"content must be at most {MAX_CONTENT} characters.", "content")
            self.store.run(
                "UPDATE messages SET content = ?, is_edited = 1, updated_at = ? WHERE id = ?",
                [content, iso_from_ms(now_ms()), message["id"]],
            )
        if v.present(pinned):
            self.store.run(
                "UPDATE messages SET is_pinned = ? WHERE id = ?", [int(pinned), message["id"]]
            )
        updated = self.store.message(message["id"])
        assert updated is not None
        return self.store.message_json(updated, channel["company_id"])

    def messages_list(self, call: Call) -> dict[str, Any]:
        channel_id = v.require_str(call.query, "channel_id")
        direction = v.choice(call.query, "direction", ("asc", "desc"))
        channel = self._channel(call, channel_id, "channel_id")
        listing = Listing(
            kind=f"messages:{direction if v.present(direction) else 'desc'}",
            from_where="FROM messages WHERE channel_id = ?",
            params=[channel["id"]],
            key_columns=("created_at", "seq"),
            descending=direction != "asc",
        )
        rows, page_info = self._list(call, listing)
        self._mark_viewed(call, channel["id"])
        company_id = channel["company_id"]
        return {
            "data": [self.store.message_json(r, company_id) for r in rows],
            "page_info": page_info,
        }

    def messages_delete(self, call: Call) -> bool:
        message, channel = self._message(call)
        self._require_author(call, message, channel, "delete")
        self.store.delete_message(message["id"])
        self.store.refresh_last_message(channel["id"])
        return True

    # --- users ------------------------------------------------------------------------------
    def _user(self, call: Call) -> sqlite3.Row:
        ref = call.path_id or ""
        user = self.store.user(ref) or self.store.one(
            "SELECT * FROM users WHERE username = ?", [ref]
        )
        if user is None:
            raise not_found(f"User {ref} not found.", "id")
        return user

    def _me(self, call: Call, operation: str) -> sqlite3.Row:
        user_id = call.principal.user_id
        if user_id is None:
            raise forbidden(f"{operation} needs a user token: an API key has no user of its own.")
        user = self.store.user(user_id)
        assert user is not None  # checked when the token was authenticated
        return user

    def _profile_company(self, call: Call) -> str | None:
        return self._company(call) if call.company_param() else None

    def users_retrieve(self, call: Call) -> dict[str, Any]:
        return self.store.user_json(self._user(call), self._profile_company(call))

    def users_me(self, call: Call) -> dict[str, Any]:
        user = self._me(call, "users.me")
        return self.store.user_json(user, self._profile_company(call), self_view=True)

    def users_list(self, call: Call) -> dict[str, Any]:
        company_id = self._profile_company(call)
        query = (call.query.get("query") or "").strip()
        where, params = "FROM users u WHERE 1 = 1", []
        if call.principal.user_id:
            # A user token sees itself and the users it shares a DM with (in its company).
            where += (
                " AND (u.id = ? OR EXISTS (SELECT 1 FROM members mine JOIN members theirs"
                " ON theirs.channel_id = mine.channel_id JOIN channels c ON c.id = mine.channel_id"
                " WHERE mine.user_id = ? AND theirs.user_id = u.id AND c.company_id = ?))"
            )
            params += [call.principal.user_id, call.principal.user_id, call.principal.company_id]
        if query:
            like = _like(query)
            where += (
                " AND (u.username LIKE ? ESCAPE '\\' OR u.name LIKE ? ESCAPE '\\' OR EXISTS ("
                "SELECT 1 FROM user_profiles p WHERE p.user_id = u.id AND p.company_id = ? AND "
                "(p.username LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\')))"
            )
            params += [like, like, company_id or "", like, like]
        listing = Listing(
            kind="users",
            select="u.*",
            from_where=where,
            params=params,
            key_columns=("u.seq",),
            descending=False,
        )
        rows, page_info = self._list(call, listing)
        return {"data": [self.store.user_json(r, company_id) for r in rows], "page_info": page_info}

    def users_update(self, call: Call) -> dict[str, Any]:
        user = self._user(call)
        principal = call.principal
        if principal.user_id is None and not call.company_param():
            raise bad_request(
                "account_id is required with an API key: it names the account whose profile"
                " override to update.",
                "account_id",
            )
        if principal.user_id is not None and principal.user_id != user["id"]:
            raise forbidden("An access token can only update its own user.")
        return self._update_user(call, user)

    def users_update_me(self, call: Call) -> dict[str, Any]:
        return self._update_user(call, self._me(call, "users.update_me"), self_view=True)

    def _update_user(
        self, call: Call, user: sqlite3.Row, *, self_view: bool = False
    ) -> dict[str, Any]:
        """A company's profile override when ``account_id`` is given, else the global profile."""
        company_id = self._profile_company(call)
        name = v.optional_str(call.body, "name", max_length=MAX_NAME)
        username = v.optional_str(call.body, "username")
        bio = v.optional_str(call.body, "bio", max_length=2000)
        picture = self._picture(call.body)
        if v.present(username) and username is not None and not USERNAME_RE.match(username):
            raise unprocessable(
                "username must be 1-40 letters, digits, '_', '.' or '-', starting with a letter or digit.",
                "username",
            )
        changes = {
            column: value
            for column, value in (
                ("name", name),
                ("username", username),
                ("bio", bio),
                ("profile_picture_url", picture),
            )
            if v.present(value)
        }
        if company_id is not None:
            self.store.run(
                "INSERT OR IGNORE INTO user_profiles (user_id, company_id) VALUES (?, ?)",
                [user["id"], company_id],
            )
            for column, value in changes.items():
                self.store.run(
                    f"UPDATE user_profiles SET {column} = ? WHERE user_id = ? AND company_id = ?",  # noqa: S608 - fixed columns
                    [value, user["id"], company_id],
                )
        else:
            if "username" in changes:
                if changes["username"] is None:
                    raise unprocessable("username cannot be removed.", "username")
                taken = self.store.one(
                    "SELECT id FROM users WHERE username = ? AND id != ?",
                    [changes["username"], user["id"]],
                )
                if taken is not None:
                    raise conflict(f"The username {changes['username']!r} is taken.", "username")
            for column, value in changes.items():
                self.store.run(f"UPDATE users SET {column} = ? WHERE id = ?", [value, user["id"]])  # noqa: S608
        updated = self.store.user(user["id"])
        assert updated is not None
        return self.store.user_json(updated, company_id, self_view=self_view)

    @staticmethod
    def _picture(body: dict[str, Any]) -> Any:
        if "profile_picture" not in body:
            return v.ABSENT
        value = body["profile_picture"]
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            return value["url"]
        raise bad_request('profile_picture must be {"url": "..."} or null.', "profile_picture")

    # --- accounts (and the older /companies form of the same rows) ---------------------------
    def _create_connected_account(self, call: Call) -> sqlite3.Row:
        """A connected account under the key's own account, owned by the user with that email
        (created when there is none)."""
        email = v.email(call.body, "email")
        title = v.optional_str(call.body, "title", max_length=MAX_NAME)
        metadata = v.optional_object(call.body, "metadata")
        send_emails = v.optional_bool(call.body, "send_customer_emails")
        metadata = metadata if v.present(metadata) and metadata is not None else {}
        owner = self.store.one("SELECT * FROM users WHERE email = ? ORDER BY seq LIMIT 1", [email])
        if owner is None:
            local = email.split("@", 1)[0]
            owner = self.store.create_user(
                username=self.store.unique_username(local), name=local, email=email
            )
        if not (v.present(title) and title):
            # SDK: "Defaults to `metadata.external_id` or the owner's email".
            external_id = metadata.get("external_id")
            title = str(external_id) if external_id not in (None, "") else email
        return self.store.insert(
            "companies",
            {
                "id": new_id("biz_"),
                "title": title,
                "route": self.store.unique_route(title),
                "parent_company_id": call.principal.company_id,
                "metadata": json.dumps(metadata),
                "email": email,
                "owner_user_id": owner["id"],
                "bot_user_id": None,
                "send_customer_emails": int(send_emails) if v.present(send_emails) else 0,
                "created_at": iso_from_ms(now_ms()),
            },
        )

    def _visible_account(self, call: Call, ref: str) -> sqlite3.Row:
        """By ID or route: the key's own account and its children; a user token's own accounts."""
        company = self.store.company(ref) or self.store.one(
            "SELECT * FROM companies WHERE route = ?", [ref]
        )
        principal = call.principal
        if principal.user_id is not None:
            visible = company is not None and company["owner_user_id"] == principal.user_id
        else:
            own = principal.company_id
            visible = company is not None and own in (company["id"], company["parent_company_id"])
        if not visible:
            raise not_found(f"Account {ref} not found.", "id")
        assert company is not None
        return company

    def _account_listing(
        self, call: Call, parent_param: str, *, children_only: bool = False
    ) -> Listing:
        principal = call.principal
        parent = call.query.get(parent_param) or (principal.company_id if children_only else None)
        owner = call.query.get("owner_id") or None
        if parent and owner:
            raise unprocessable(f"{parent_param} cannot be combined with owner_id.", "owner_id")
        own = principal.company_id
        if parent and parent != own:
            raise forbidden(
                f"This credential belongs to {own}; it cannot list the accounts of {parent}.",
                parent_param,
            )
        if principal.user_id is not None:
            where, params = "FROM companies WHERE owner_user_id = ?", [principal.user_id]
        elif parent:
            where, params = "FROM companies WHERE parent_company_id = ?", [own]
        else:
            where, params = "FROM companies WHERE (id = ? OR parent_company_id = ?)", [own, own]
        if owner:
            where += " AND owner_user_id = ?"
            params.append(owner)
        query = (call.query.get("query") or "").strip()
        if query:  # SDK: "Free-text filter on account title or ID. `%` and `_` match literally."
            where += " AND (title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')"
            params += [_like(query), _like(query)]
        return Listing(
            kind="accounts", from_where=where, params=params, key_columns=("seq",), descending=False
        )

    def accounts_create(self, call: Call) -> dict[str, Any]:
        # No parent field: a connected account's parent is always the API key's own account.
        return self.store.account_json(self._create_connected_account(call))

    def accounts_list(self, call: Call) -> dict[str, Any]:
        rows, page_info = self._list(call, self._account_listing(call, "parent_account_id"))
        return {"data": [self.store.account_json(r) for r in rows], "page_info": page_info}

    def accounts_retrieve(self, call: Call) -> dict[str, Any]:
        return self.store.account_json(self._visible_account(call, call.path_id or ""))

    def accounts_me(self, call: Call) -> dict[str, Any]:
        return self.store.account_json(self._visible_account(call, call.principal.company_id))

    def companies_create(self, call: Call) -> dict[str, Any]:
        parent = v.require_str(call.body, "parent_company_id")
        own = call.principal.company_id
        if parent != own:
            raise forbidden(
                f"This API key belongs to {own}; it cannot create companies under {parent}.",
                "parent_company_id",
            )
        return self.store.company_json(self._create_connected_account(call))

    def companies_list(self, call: Call) -> dict[str, Any]:
        # The older form lists only the children, with or without parent_company_id.
        listing = self._account_listing(call, "parent_company_id", children_only=True)
        rows, page_info = self._list(call, listing)
        return {"data": [self.store.company_json(r) for r in rows], "page_info": page_info}

    def companies_retrieve(self, call: Call) -> dict[str, Any]:
        return self.store.company_json(self._visible_account(call, call.path_id or ""))

    # --- access tokens ----------------------------------------------------------------------
    def access_tokens_create(self, call: Call) -> dict[str, Any]:
        # SDK: "With API key authentication, pass `account_id` or `user_id`": a user token, or
        # without a user an account token (acts as the account, limited to its scopes).
        user_ref = v.optional_str(call.body, "user_id")
        company_id = self._company(call)
        if not (v.present(user_ref) and user_ref) and call.company_param() is None:
            raise bad_request("Pass account_id or user_id.", "user_id")
        scopes = v.optional_str_list(call.body, "scoped_actions")
        expires_raw = call.body.get("expires_at")
        now = time.time()
        if expires_raw is None:
            expires_at = now + TOKEN_DEFAULT_SECONDS
        else:
            expires_at = _parse_expiry(expires_raw)
            if expires_at <= now:
                raise unprocessable("expires_at is in the past.", "expires_at")
            if expires_at > now + TOKEN_MAX_SECONDS + 5:
                raise unprocessable("expires_at must be at most 3 hours from now.", "expires_at")
        user_id = None
        if v.present(user_ref) and user_ref:
            user_id = self._resolve_user(user_ref, "user_id")["id"]
        token = mint_token(
            self.store.signing_secret(),
            user_id=user_id,
            company_id=company_id,
            # SDK: "If empty or omitted, all permissions from the authenticating credential".
            scopes=scopes if v.present(scopes) and scopes else ALL_SCOPES,
            expires_at=round(expires_at, 3),
        )
        stamp = datetime.fromtimestamp(expires_at, tz=UTC).isoformat(timespec="milliseconds")
        return {"token": token, "expires_at": stamp.replace("+00:00", "Z")}

    # --- reactions (on DM messages) ---------------------------------------------------------
    def _reaction(self, call: Call) -> tuple[sqlite3.Row, sqlite3.Row]:
        reaction_id = call.path_id or ""
        reaction = self.store.reaction(reaction_id)
        if reaction is not None:
            with contextlib.suppress(ApiError):  # a message the caller cannot see: 404 as well
                _, channel = self._message(call, reaction["message_id"])
                return reaction, channel
        raise not_found(f"Reaction {reaction_id} not found.", "id")

    def reactions_create(self, call: Call) -> dict[str, Any]:
        message_id = v.require_str(call.body, "resource_id")
        emoji = v.optional_str(call.body, "emoji", max_length=64)
        option = v.optional_str(call.body, "poll_option_id")
        emoji = emoji if v.present(emoji) and emoji else None
        option = option if v.present(option) and option else None
        message, channel = self._message(call, message_id, "resource_id")
        if (emoji is None) == (option is None):
            raise unprocessable("Pass exactly one of emoji or poll_option_id.", "emoji")
        if option is not None:
            poll = json.loads(message["poll"]) if message["poll"] else {}
            options = {o.get("id") for o in poll.get("options") or [] if isinstance(o, dict)}
            if option not in options:
                raise unprocessable(
                    f"poll_option_id {option} is not an option of this message's poll.",
                    "poll_option_id",
                )
        user_id = self._acting_user(call, channel)
        existing = self.store.one(
            "SELECT * FROM reactions WHERE message_id = ? AND user_id = ?"
            " AND emoji IS ? AND poll_option_id IS ?",
            [message["id"], user_id, emoji, option],
        )
        company_id = channel["company_id"]
        if existing is not None:  # reacting twice is a no-op (and fires no second webhook)
            return self.store.reaction_json(existing, company_id)
        reaction = self.store.insert(
            "reactions",
            {
                "id": new_id("reac_", 22),
                "message_id": message["id"],
                "user_id": user_id,
                "emoji": emoji,
                "poll_option_id": option,
                "created_at": iso_from_ms(now_ms()),
            },
        )
        shaped = self.store.reaction_json(reaction, company_id)
        self._chat_event(
            call,
            "chat.reaction.created",
            channel,
            {"message": self.store.message_json(message, company_id), "reaction": shaped},
        )
        return shaped

    def reactions_list(self, call: Call) -> dict[str, Any]:
        message_id = v.require_str(call.query, "resource_id")
        message, channel = self._message(call, message_id, "resource_id")
        listing = Listing(
            kind="reactions",
            from_where="FROM reactions WHERE message_id = ?",
            params=[message["id"]],
            key_columns=("seq",),
            descending=True,  # SDK: "sorted by most recent"
        )
        rows, page_info = self._list(call, listing)
        company_id = channel["company_id"]
        return {
            "data": [self.store.reaction_json(r, company_id) for r in rows],
            "page_info": page_info,
        }

    def reactions_retrieve(self, call: Call) -> dict[str, Any]:
        reaction, channel = self._reaction(call)
        return self.store.reaction_json(reaction, channel["company_id"])

    def reactions_delete(self, call: Call) -> bool:
        ref = call.path_id or ""
        if self.store.reaction(ref) is None and self.store.message(ref) is not None:
            # SDK: the id may name the message, with `emoji` saying which of one's own to remove.
            emoji = v.require_str(call.query, "emoji")
            message, channel = self._message(call, ref)
            reaction = self.store.one(
                "SELECT * FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
                [message["id"], self._acting_user(call, channel), emoji],
            )
            if reaction is None:
                raise not_found(f"You have no {emoji} reaction on message {ref}.", "emoji")
        else:
            reaction, channel = self._reaction(call)
            if reaction["user_id"] != call.principal.user_id and not self._is_admin(call, channel):
                raise forbidden("Only the reaction author or a channel admin can remove it.")
        self.store.run("DELETE FROM reactions WHERE id = ?", [reaction["id"]])
        return True


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with ``%`` and ``_`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _parse_expiry(value: Any) -> float:
    if isinstance(value, bool):
        raise bad_request("expires_at must be an ISO 8601 timestamp.", "expires_at")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise bad_request("expires_at must be an ISO 8601 timestamp.", "expires_at") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise bad_request("expires_at must be an ISO 8601 timestamp.", "expires_at")
