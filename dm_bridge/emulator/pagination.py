"""Relay-style cursor pagination shared by every list endpoint.

A list is a SQL ``FROM … WHERE …`` plus the columns of its sort key (the last one unique,
e.g. a row's ``seq``). A cursor is the URL-safe base64 of ``[kind, key values]``: opaque to
clients, stable while rows are added or removed, and rejected when used with another list.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dm_bridge.emulator.errors import bad_request, unprocessable

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    first: int | None
    last: int | None
    after: list[Any] | None
    before: list[Any] | None


@dataclass(frozen=True)
class Listing:
    kind: str
    from_where: str  # "FROM table alias WHERE ..." (always with a WHERE clause)
    params: Sequence[Any]
    key_columns: Sequence[str]
    descending: bool
    select: str = "*"


def encode_cursor(kind: str, key: Sequence[Any]) -> str:
    raw = json.dumps([kind, list(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, value: str, param: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise bad_request(f"{param} is not a valid cursor.", param) from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or decoded[0] != kind
        or not isinstance(decoded[1], list)
        or len(decoded[1]) != size
        or not all(isinstance(v, int | str) and not isinstance(v, bool) for v in decoded[1])
    ):
        raise bad_request(f"{param} is not a valid cursor for this list.", param)
    return decoded[1]


def _page_size(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        size = int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer.", name) from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise unprocessable(f"{name} must be between 1 and {MAX_PAGE_SIZE} (got {size}).", name)
    return size


def parse_page_request(query: Mapping[str, str], listing: Listing) -> PageRequest:
    first = _page_size(query, "first")
    last = _page_size(query, "last")
    if first is not None and last is not None:
        raise unprocessable("Pass either first or last, not both.", "last")
    size = len(listing.key_columns)
    after = query.get("after") or None
    before = query.get("before") or None
    return PageRequest(
        first=first,
        last=last,
        after=decode_cursor(listing.kind, after, "after", size) if after else None,
        before=decode_cursor(listing.kind, before, "before", size) if before else None,
    )


def paginate(
    conn: sqlite3.Connection, listing: Listing, page: PageRequest
) -> tuple[list[sqlite3.Row], dict[str, Any]]:
    keys = ", ".join(listing.key_columns)
    marks = ", ".join("?" * len(listing.key_columns))
    # "forward" is list order: towards smaller keys for a descending list.
    fwd, back = ("<", ">") if listing.descending else (">", "<")
    conditions = [listing.from_where]
    params: list[Any] = list(listing.params)
    if page.after is not None:
        conditions.append(f"AND ({keys}) {fwd} ({marks})")
        params += page.after
    if page.before is not None:
        conditions.append(f"AND ({keys}) {back} ({marks})")
        params += page.before
    key_select = ", ".join(f"{col} AS _k{i}" for i, col in enumerate(listing.key_columns))
    base = f"SELECT {listing.select}, {key_select} " + " ".join(conditions)

    def order(descending: bool) -> str:
        direction = "DESC" if descending else "ASC"
        return ", ".join(f"{col} {direction}" for col in listing.key_columns)

    def exists(op: str, cursor: list[Any]) -> bool:
        sql = f"SELECT 1 {listing.from_where} AND ({keys}) {op} ({marks}) LIMIT 1"
        return conn.execute(sql, [*listing.params, *cursor]).fetchone() is not None

    # Rows outside the after/before window count too: a page cut by ``before`` has a next
    # page when rows exist from that cursor on, whichever of first/last was asked for.
    if page.last is not None:
        rows = conn.execute(
            f"{base} ORDER BY {order(not listing.descending)} LIMIT ?", [*params, page.last + 1]
        ).fetchall()
        more_before = len(rows) > page.last
        rows = list(reversed(rows[: page.last]))
        more_after = False
    else:
        size = page.first or DEFAULT_PAGE_SIZE
        rows = conn.execute(
            f"{base} ORDER BY {order(listing.descending)} LIMIT ?", [*params, size + 1]
        ).fetchall()
        more_after = len(rows) > size
        rows = rows[:size]
        more_before = False
    has_next = more_after or (page.before is not None and exists(fwd + "=", page.before))
    has_previous = more_before or (page.after is not None and exists(back + "=", page.after))

    def cursor(row: sqlite3.Row) -> str:
        return encode_cursor(listing.kind, [row[f"_k{i}"] for i in range(len(listing.key_columns))])

    # The SDK's pager follows end_cursor until it is null (or ""), so the last page says null.
    page_info = {
        "end_cursor": cursor(rows[-1]) if rows and has_next else None,
        "start_cursor": cursor(rows[0]) if rows else None,
        "has_next_page": has_next,
        "has_previous_page": has_previous,
    }
    return rows, page_info
