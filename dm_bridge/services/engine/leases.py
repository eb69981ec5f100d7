"""Leases and attempts: one worker per row at a time, and a trace of every Whop write.

A lease is taken with one conditional UPDATE (atomic on every database) and released by its
token, so a worker that lost its lease cannot release another's. An attempt is counted
*before* the write goes out, which is what lets a retry look the object up instead of writing
twice; ``intent_key`` names the intent for Whop's ``Idempotency-Key``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any, TypeVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ...conf import dm_bridge_settings
from ...db import update_returning
from ...models import WorkState

logger = logging.getLogger("dm_bridge")


# WorkState is abstract, so its type has no ``objects``: the engine reaches each concrete
# model's rows through ``_default_manager`` (the same manager, and typed).
Row = TypeVar("Row", bound=WorkState)


def claim(model: type[Row], pk: int) -> tuple[Row, str] | None:
    """Take the row's lease if nobody holds it (one UPDATE: atomic on every database)."""
    rows, token = claim_many(model, [pk])
    return (rows[0], token) if rows else None


def claim_many(model: type[Row], pks: list[int]) -> tuple[list[Row], str]:
    """Take the lease of each of ``pks`` that nobody holds, with one token for all of them;
    returns the rows taken (in the database's order) and the token. One UPDATE … RETURNING
    where the database has it, else an UPDATE and a SELECT by the token."""
    now = timezone.now()
    token = secrets.token_hex(8)
    free = model._default_manager.filter(pk__in=pks).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    lease = {
        "lease_until": now + timedelta(seconds=dm_bridge_settings.LEASE_SECONDS),
        "lease_token": token,
    }
    taken = update_returning(free, **lease)  # the rows with their lease, in one round trip
    if taken is None:
        taken = (
            list(model._default_manager.filter(pk__in=pks, lease_token=token))
            if free.update(**lease)
            else []
        )
    return taken, token


def release(row: WorkState, token: str) -> None:
    type(row)._default_manager.filter(pk=row.pk, lease_token=token).update(
        lease_until=None, lease_token=""
    )


def is_due(row: WorkState) -> bool:
    return row.next_attempt_at is not None and row.next_attempt_at <= timezone.now() + timedelta(
        seconds=1
    )


def count_attempt(row: WorkState, *, intent: bool = False) -> None:
    """Record an attempt just before a Whop write goes out, so a crash mid-call leaves a trace.

    ``intent`` (channel creation) also flags that Whop may hold the result before we know it.
    """
    row.attempts += 1
    updates: dict[str, Any] = {"attempts": models.F("attempts") + 1}
    if intent:
        updates["needs_reconcile"] = True
    type(row)._default_manager.filter(pk=row.pk).update(**updates)


def intent_key(operation: str, row: WorkState, *parts: Any) -> str:
    """The ``Idempotency-Key`` of one intent: the same on every retry of it, new for a new one.

    The row's primary key and creation time make it unique across sites sharing a Whop key;
    ``parts`` carry what changes the intent (the member set, a re-add after a removal).
    """
    seed = "|".join(
        str(part) for part in (operation, type(row).__name__, row.pk, row.created_at, *parts)
    )
    return "dmb_" + hashlib.sha256(seed.encode()).hexdigest()[:40]
