"""The emulator's state: one SQLite database (``:memory:`` or a file), its schema, the Whop
JSON shapes of its rows, and small helpers for IDs and timestamps.

The store is not thread-safe on its own: the server holds one lock around every use.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import string
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dm_bridge.emulator import shapes

_ALPHABET = string.ascii_letters + string.digits

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT,
    email TEXT COLLATE NOCASE,
    bio TEXT,
    profile_picture_url TEXT,
    is_bot INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_email ON users (email);
CREATE TABLE IF NOT EXISTS user_profiles (
    user_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    name TEXT,
    username TEXT,
    bio TEXT,
    profile_picture_url TEXT,
    PRIMARY KEY (user_id, company_id)
);
CREATE TABLE IF NOT EXISTS companies (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    parent_company_id TEXT,
    metadata TEXT,
    email TEXT,
    owner_user_id TEXT,
    bot_user_id TEXT,
    send_customer_emails INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    route TEXT
);
CREATE INDEX IF NOT EXISTS companies_parent ON companies (parent_company_id, seq);
CREATE TABLE IF NOT EXISTS channels (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    company_id TEXT NOT NULL,
    name TEXT,
    created_at_ms INTEGER NOT NULL,
    last_message_at TEXT,
    activity_ms INTEGER NOT NULL,
    member_key TEXT NOT NULL,
    creator_user_id TEXT,
    notifications_enabled INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS channels_member_key ON channels (company_id, member_key);
CREATE INDEX IF NOT EXISTS channels_activity ON channels (company_id, activity_ms, seq);
CREATE TABLE IF NOT EXISTS members (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    last_viewed_at_ms INTEGER,
    notification_preference TEXT NOT NULL DEFAULT 'all',
    status TEXT NOT NULL DEFAULT 'accepted',
    UNIQUE (channel_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_user ON members (user_id);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    is_edited INTEGER NOT NULL DEFAULT 0,
    is_pinned INTEGER NOT NULL DEFAULT 0,
    message_type TEXT NOT NULL,
    replying_to_message_id TEXT,
    attachments TEXT,
    poll TEXT
);
CREATE INDEX IF NOT EXISTS messages_channel ON messages (channel_id, created_at, seq);
CREATE TABLE IF NOT EXISTS reactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    emoji TEXT,
    poll_option_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reactions_message ON reactions (message_id, seq);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT,
    retry_delays TEXT,
    created_at TEXT NOT NULL
);
"""

WIPED_TABLES = (
    "users",
    "user_profiles",
    "companies",
    "channels",
    "members",
    "messages",
    "reactions",
    "webhooks",
)

# Columns added after the first release: (table, column, declaration). Data files written by an
# older emulator get them on open (CREATE TABLE IF NOT EXISTS leaves existing tables alone).
ADDED_COLUMNS = (("companies", "route", "TEXT"),)


# --- IDs and time -----------------------------------------------------------------------------
def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def stable_id(prefix: str, seed: str, length: int = 14) -> str:
    """A deterministic ID (for the bot users of configured companies)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return prefix + "".join(chars)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_from_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_iso(value: str) -> int:
    """Parse an ISO 8601 timestamp (naive = UTC); raises ValueError."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def username_from(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:32] or "user"


class Store:
    def __init__(self, path: str | None = None) -> None:
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self.conn.row_factory = sqlite3.Row
        if path:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        for table, column, declaration in ADDED_COLUMNS:
            columns = {row["name"] for row in self.all(f"PRAGMA table_info({table})")}
            if column not in columns:
                self.run(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        for row in self.all("SELECT id, title FROM companies WHERE route IS NULL"):
            self.run(
                "UPDATE companies SET route = ? WHERE id = ?",
                [self.unique_route(row["title"]), row["id"]],
            )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- plain SQL --------------------------------------------------------------------------
    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()  # typeshed: Any
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def insert(self, table: str, values: dict[str, Any]) -> sqlite3.Row:
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        self.run(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))  # noqa: S608 - table/columns are ours
        row = self.one(f"SELECT * FROM {table} WHERE id = ?", [values["id"]])  # noqa: S608
        assert row is not None
        return row

    # --- meta -------------------------------------------------------------------------------
    def signing_secret(self) -> bytes:
        """The HS256 key for user tokens; created once and kept across restarts and resets."""
        row = self.one("SELECT value FROM meta WHERE key = 'signing_secret'")
        if row is None:
            value = secrets.token_hex(32)
            self.run("INSERT INTO meta (key, value) VALUES ('signing_secret', ?)", [value])
            return bytes.fromhex(value)
        return bytes.fromhex(row["value"])

    def wipe(self) -> None:
        for table in WIPED_TABLES:
            self.run(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        self.run("DELETE FROM sqlite_sequence")

    # --- lookups ----------------------------------------------------------------------------
    def user(self, user_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM users WHERE id = ?", [user_id])

    def resolve_user(self, ref: str) -> sqlite3.Row | None:
        """A user by ID, username or email (the forms ``with_user_ids`` accepts)."""
        return (
            self.one("SELECT * FROM users WHERE id = ?", [ref])
            or self.one("SELECT * FROM users WHERE username = ?", [ref])
            or self.one("SELECT * FROM users WHERE email = ? ORDER BY seq LIMIT 1", [ref])
        )

    def company(self, company_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM companies WHERE id = ?", [company_id])

    def channel(self, channel_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM channels WHERE id = ?", [channel_id])

    def member(self, member_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM members WHERE id = ?", [member_id])

    def membership(self, channel_id: str, user_id: str) -> sqlite3.Row | None:
        return self.one(
            "SELECT * FROM members WHERE channel_id = ? AND user_id = ?", [channel_id, user_id]
        )

    def message(self, message_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM messages WHERE id = ?", [message_id])

    def reaction(self, reaction_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM reactions WHERE id = ?", [reaction_id])

    def profile(self, user_id: str, company_id: str | None) -> sqlite3.Row | None:
        if not company_id:
            return None
        return self.one(
            "SELECT * FROM user_profiles WHERE user_id = ? AND company_id = ?",
            [user_id, company_id],
        )

    # --- writes shared by the REST API and the control API ------------------------------------
    def create_user(
        self,
        *,
        username: str,
        user_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        bio: str | None = None,
        profile_picture_url: str | None = None,
        is_bot: bool = False,
    ) -> sqlite3.Row:
        return self.insert(
            "users",
            {
                "id": user_id or new_id("user_"),
                "username": username,
                "name": name,
                "email": email,
                "bio": bio,
                "profile_picture_url": profile_picture_url,
                "is_bot": int(is_bot),
                "created_at": iso_from_ms(now_ms()),
            },
        )

    def unique_username(self, base: str) -> str:
        return self._unique("users", "username", base)

    def unique_route(self, title: str) -> str:
        """A company's public route: a slug of its title, made unique like usernames."""
        return self._unique("companies", "route", title)

    def _unique(self, table: str, column: str, text: str) -> str:
        # table and column are fixed by the two callers above, never from a request.
        base = username_from(text)
        candidate, n = base, 1
        while self.one(f"SELECT 1 FROM {table} WHERE {column} = ?", [candidate]):  # noqa: S608
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def ensure_configured_company(self, company_id: str) -> sqlite3.Row:
        """The company an API key is bound to, with its bot user (authors API-key messages)."""
        bot_id = stable_id("user_", f"bot:{company_id}")
        label = company_id.removeprefix("biz_").replace("_", " ").strip() or company_id
        title = label.title()
        if self.user(bot_id) is None:
            self.create_user(
                user_id=bot_id,
                username=self.unique_username(f"{label}-bot"),
                name=f"{title} Bot",
                is_bot=True,
            )
        company = self.company(company_id)
        if company is None:
            company = self.insert(
                "companies",
                {
                    "id": company_id,
                    "title": title,
                    "parent_company_id": None,
                    "metadata": json.dumps({}),
                    "owner_user_id": bot_id,
                    "bot_user_id": bot_id,
                    "created_at": iso_from_ms(now_ms()),
                    "route": self.unique_route(label),
                },
            )
        elif company["bot_user_id"] is None:
            self.run("UPDATE companies SET bot_user_id = ? WHERE id = ?", [bot_id, company_id])
            company = self.company(company_id)
            assert company is not None
        return company

    def create_channel(
        self,
        *,
        company_id: str,
        user_ids: Sequence[str],
        name: str | None = None,
        creator_user_id: str | None = None,
        notifications_enabled: bool = True,
        channel_id: str | None = None,
    ) -> sqlite3.Row:
        ms = now_ms()
        channel = self.insert(
            "channels",
            {
                "id": channel_id or new_id("feed_"),
                "company_id": company_id,
                "name": name,
                "created_at_ms": ms,
                "last_message_at": None,
                "activity_ms": ms,
                "member_key": member_key(user_ids),
                "creator_user_id": creator_user_id,
                "notifications_enabled": int(notifications_enabled),
            },
        )
        for user_id in user_ids:
            self.add_member(channel["id"], user_id, update_key=False)
        return channel

    def add_member(self, channel_id: str, user_id: str, *, update_key: bool = True) -> sqlite3.Row:
        row = self.insert(
            "members",
            {
                "id": new_id("dmm_"),
                "channel_id": channel_id,
                "user_id": user_id,
                "last_viewed_at_ms": None,
                "notification_preference": "all",
                "status": "accepted",
            },
        )
        if update_key:
            self.refresh_member_key(channel_id)
        return row

    def member_count(self, channel_id: str) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM members WHERE channel_id = ?", [channel_id])
        return int(row["n"]) if row else 0

    def refresh_member_key(self, channel_id: str) -> None:
        user_ids = [
            r["user_id"]
            for r in self.all("SELECT user_id FROM members WHERE channel_id = ?", [channel_id])
        ]
        self.run(
            "UPDATE channels SET member_key = ? WHERE id = ?", [member_key(user_ids), channel_id]
        )

    def create_message(
        self,
        *,
        channel: sqlite3.Row,
        user_id: str,
        content: str,
        message_type: str = "regular",
        created_ms: int | None = None,
        replying_to_message_id: str | None = None,
        attachments: Any = None,
        poll: Any = None,
    ) -> sqlite3.Row:
        ms = created_ms if created_ms is not None else now_ms()
        stamp = iso_from_ms(ms)
        message = self.insert(
            "messages",
            {
                "id": new_id("post_"),
                "channel_id": channel["id"],
                "user_id": user_id,
                "content": content,
                "created_at": stamp,
                "updated_at": stamp,
                "message_type": message_type,
                "replying_to_message_id": replying_to_message_id,
                "attachments": json.dumps(attachments) if attachments is not None else None,
                "poll": json.dumps(poll) if poll is not None else None,
            },
        )
        self.refresh_last_message(channel["id"])
        return message

    def refresh_last_message(self, channel_id: str) -> None:
        latest = self.one(
            "SELECT created_at FROM messages WHERE channel_id = ? ORDER BY created_at DESC, seq DESC LIMIT 1",
            [channel_id],
        )
        self.run(
            "UPDATE channels SET last_message_at = ?,"
            " activity_ms = MAX(created_at_ms, COALESCE(?, 0)) WHERE id = ?",
            [
                latest["created_at"] if latest else None,
                ms_from_iso(latest["created_at"]) if latest else None,
                channel_id,
            ],
        )

    def delete_message(self, message_id: str) -> None:
        self.run("DELETE FROM reactions WHERE message_id = ?", [message_id])
        self.run("DELETE FROM messages WHERE id = ?", [message_id])

    def delete_channel(self, channel_id: str) -> None:
        self.run(
            "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE channel_id = ?)",
            [channel_id],
        )
        self.run("DELETE FROM messages WHERE channel_id = ?", [channel_id])
        self.run("DELETE FROM members WHERE channel_id = ?", [channel_id])
        self.run("DELETE FROM channels WHERE id = ?", [channel_id])

    # --- Whop JSON shapes (API version 2026-10-15-1, as SDK 2.6 parses them) -------------------
    def _identity(self, user_id: str, company_id: str | None) -> dict[str, Any]:
        """id/username/name/bio/picture of a user, the per-company profile winning field by field."""
        user = self.user(user_id)
        if user is None:  # only rows left behind by hand-edited data; keep them readable
            return {"id": user_id, "username": user_id, "name": None, "bio": None, "picture": None}
        profile = self.profile(user_id, company_id)

        def pick(field: str) -> Any:
            if profile is not None and profile[field] is not None:
                return profile[field]
            return user[field]

        return {
            "id": user_id,
            "username": pick("username"),
            "name": pick("name"),
            "bio": pick("bio"),
            "picture": pick("profile_picture_url"),
        }

    def message_user(self, user_id: str, company_id: str | None) -> dict[str, Any]:
        """``MessageUser`` / ``ReactionUser``: id, name, username."""
        who = self._identity(user_id, company_id)
        return {"id": who["id"], "name": who["name"], "username": who["username"]}

    def user_summary(self, user_id: str, company_id: str | None) -> dict[str, Any]:
        """``UserSummary`` (an account's owner): id, name, username, profile_picture."""
        who = self._identity(user_id, company_id)
        return {
            "id": who["id"],
            "name": who["name"],
            "username": who["username"],
            "profile_picture": {"url": shapes.avatar_url(who["id"], who["picture"])},
        }

    def user_json(
        self, user: sqlite3.Row, company_id: str | None = None, *, self_view: bool = False
    ) -> dict[str, Any]:
        """``User``; self-only fields (``email``) are filled only on the self view (``me``)."""
        who = self._identity(user["id"], company_id)
        shaped = shapes.user_defaults()
        shaped.update(
            {
                "id": user["id"],
                "username": who["username"],
                "name": who["name"],
                "bio": who["bio"],
                "created_at": user["created_at"],
                "profile_picture": {"url": shapes.avatar_url(user["id"], who["picture"])},
            }
        )
        if self_view:
            shaped["email"] = user["email"]
        return shaped

    @staticmethod
    def channel_json(channel: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": channel["id"],
            "created_at": str(channel["created_at_ms"]),
            "last_message_at": channel["last_message_at"],
            "name": channel["name"],
        }

    @staticmethod
    def member_json(member: sqlite3.Row) -> dict[str, Any]:
        viewed = member["last_viewed_at_ms"]
        return {
            "id": member["id"],
            "channel_id": member["channel_id"],
            "user_id": member["user_id"],
            "last_viewed_at": str(viewed) if viewed is not None else None,
            "notification_preference": member["notification_preference"],
            "status": member["status"],
        }

    def message_json(self, message: sqlite3.Row, company_id: str | None) -> dict[str, Any]:
        """``Message`` — no ``channel_id`` (Whop's shape has none)."""
        counts = self.all(
            "SELECT emoji, poll_option_id, COUNT(*) AS n FROM reactions WHERE message_id = ?"
            " GROUP BY emoji, poll_option_id ORDER BY MIN(seq)",
            [message["id"]],
        )
        return {
            "id": message["id"],
            "content": message["content"],
            "created_at": message["created_at"],
            "updated_at": message["updated_at"],
            "is_edited": bool(message["is_edited"]),
            "is_pinned": bool(message["is_pinned"]),
            "mentions": [],
            "mentions_everyone": False,
            "message_type": message["message_type"],
            "poll": json.loads(message["poll"]) if message["poll"] else None,
            "poll_votes": [
                {"option_id": r["poll_option_id"], "count": r["n"]}
                for r in counts
                if r["poll_option_id"] is not None
            ],
            "reaction_counts": [
                {"emoji": r["emoji"], "count": r["n"]}
                for r in counts
                if r["poll_option_id"] is None
            ],
            "replying_to_message_id": message["replying_to_message_id"],
            "user": self.message_user(message["user_id"], company_id),
            "view_count": 0,
        }

    def reaction_json(self, reaction: sqlite3.Row, company_id: str | None) -> dict[str, Any]:
        return {
            "id": reaction["id"],
            "emoji": reaction["emoji"],
            "resource_id": reaction["message_id"],
            "user": self.message_user(reaction["user_id"], company_id),
        }

    def account_json(self, company: sqlite3.Row) -> dict[str, Any]:
        """``Account``: a configured company (an API key's) or a connected account."""
        parent = (
            self.company(company["parent_company_id"]) if company["parent_company_id"] else None
        )
        shaped = shapes.account_defaults()
        shaped.update(
            {
                "id": company["id"],
                "title": company["title"],
                "route": company["route"],
                "email": company["email"],
                "metadata": json.loads(company["metadata"]) if company["metadata"] else {},
                "created_at": company["created_at"],
                "send_customer_emails": bool(company["send_customer_emails"]),
                "owner": self.user_summary(company["owner_user_id"], company["id"]),
                "parent_account": (
                    {
                        "id": parent["id"],
                        "route": parent["route"],
                        "title": parent["title"],
                        "logo_url": None,
                    }
                    if parent is not None
                    else None
                ),
            }
        )
        return shaped

    def company_json(self, company: sqlite3.Row) -> dict[str, Any]:
        """The older ``/companies`` form: the Account plus ``parent_company_id`` and ``owner_user``."""
        shaped = self.account_json(company)
        shaped["parent_company_id"] = company["parent_company_id"]
        shaped["owner_user"] = shaped["owner"]
        return shaped


def member_key(user_ids: Sequence[str]) -> str:
    """The get-or-create key of a channel: its exact member set."""
    return ",".join(sorted(set(user_ids)))
