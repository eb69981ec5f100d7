"""Small shared pieces of the dm_bridge_* commands (the leading underscore hides it from Django)."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from typing import Any


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number < 0 or number != number:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def status_summary(rows: Iterable[Any]) -> str:
    """'2 active, 1 failed' for rows with a ``status`` choice field (re-read from the database)."""
    counts: Counter[str] = Counter()
    for row in rows:
        row.refresh_from_db(fields=["status"])
        counts[row.get_status_display().lower()] += 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
