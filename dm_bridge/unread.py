"""Unread state of a user's DMs, kept up to date by the webhook receiver.

``record_message`` in :mod:`dm_bridge.webhooks` counts messages in; these two read the count
and reset it when the user has seen a DM (the API's "mark read", template tags).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Max, OuterRef, Subquery, Sum
from django.utils import timezone

from .models import DmChannel, DmMember

COUNTED = (DmMember.Status.ACTIVE, DmMember.Status.PENDING)


def mark_read(user: Any, whop_channel_id: str) -> int:
    """The user has seen the Whop DM ``whop_channel_id``: returns the memberships updated."""
    if not whop_channel_id or not getattr(user, "is_authenticated", False):
        return 0
    return DmMember.objects.filter(user=user, channel__whop_channel_id=whop_channel_id).update(
        last_read_at=timezone.now(), unread_count=0
    )


def unread_count(user: Any, cap: int | None = None) -> int:
    """Unread messages over the user's current DMs (0 for anonymous users).

    A Whop DM shared by several local channels counts once: its messages are the same.
    With ``cap``, any total above it may come back as ``cap + 1`` ("99+" needs no more): at
    most ``cap + 1`` unread memberships are read instead of every one (the exact total groups
    every unread conversation of a busy seller by its Whop DM).
    """
    if not getattr(user, "is_authenticated", False):
        return 0
    unread = DmMember.objects.filter(user=user, status__in=COUNTED, unread_count__gt=0).exclude(
        channel__status=DmChannel.Status.DELETED
    )
    if cap is not None:
        # Any cap + 1 of them, in no order (the models' default ordering would sort them all).
        some = unread.order_by().values_list("channel__whop_channel_id", "unread_count")
        rows = list(some[: cap + 1])
        per_dm: dict[str, int] = {}
        for whop_id, count in rows:
            per_dm[whop_id] = max(count, per_dm.get(whop_id, 0))
        # A part of the memberships counts no more than all of them: past the cap, so is all.
        total = sum(per_dm.values())
        if len(rows) <= cap or total > cap:
            return min(total, cap + 1)
        # cap + 1 rows that share Whop DMs and add up to no more than cap: count them all.
    grouped = unread.values("channel__whop_channel_id").annotate(unread=Max("unread_count"))
    # Summed in the database (a subquery): one row back, not one per conversation.
    total = int(grouped.aggregate(total=Sum("unread"))["total"] or 0)
    return total if cap is None else min(total, cap + 1)


def unread_per_channel(user: Any, channel_pks: Iterable[int]) -> dict[int, int]:
    """Unread messages per local channel, adding up to ``unread_count(user)``.

    The same memberships count as for the total. A Whop DM shared by several of the user's
    channels is counted once: on the oldest of them (lowest pk), 0 on the others, wherever
    they appear (a page of a list, a single conversation).
    """
    wanted = set(channel_pks)
    if not wanted or not getattr(user, "is_authenticated", False):
        return {}
    counted = DmMember.objects.filter(user=user, status__in=COUNTED).exclude(
        channel__status=DmChannel.Status.DELETED
    )
    # Each row with the oldest of the user's channels on its Whop DM: one query, a lookup per
    # row shown (an index on the channel's Whop ID), not a scan of all the user's memberships.
    first = counted.filter(channel__whop_channel_id=OuterRef("channel__whop_channel_id")).order_by(
        "channel_id"
    )
    mine = (
        counted.filter(channel_id__in=wanted)
        .annotate(first=Subquery(first.values("channel_id")[:1]))
        .order_by()
        .values_list("channel_id", "channel__whop_channel_id", "unread_count", "first")
    )
    return {pk: count if not whop_id or oldest == pk else 0 for pk, whop_id, count, oldest in mine}
