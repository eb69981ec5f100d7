"""Unread state of a user's DMs, kept up to date by the webhook receiver.

``record_message`` in :mod:`dm_bridge.webhooks` counts messages in; these two read the count
and reset it when the user has seen a DM (the API's "mark read", template tags).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Max, Min, Sum
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


def unread_count(user: Any) -> int:
    """Unread messages over the user's current DMs (0 for anonymous users).

    A Whop DM shared by several local channels counts once: its messages are the same.
    """
    if not getattr(user, "is_authenticated", False):
        return 0
    per_dm = (
        DmMember.objects.filter(user=user, status__in=COUNTED, unread_count__gt=0)
        .exclude(channel__status=DmChannel.Status.DELETED)
        .values("channel__whop_channel_id")
        .annotate(unread=Max("unread_count"))
    )
    # Summed in the database (a subquery): one row back, not one per conversation.
    return int(per_dm.aggregate(total=Sum("unread"))["total"] or 0)


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
    mine = list(
        counted.filter(channel_id__in=wanted).values_list(
            "channel_id", "channel__whop_channel_id", "unread_count"
        )
    )
    shared = {whop_id for _, whop_id, _ in mine if whop_id}
    first_row = dict(
        counted.filter(channel__whop_channel_id__in=shared)
        .values("channel__whop_channel_id")
        .annotate(first=Min("channel_id"))
        .values_list("channel__whop_channel_id", "first")
    )
    return {
        pk: count if not whop_id or first_row.get(whop_id) == pk else 0
        for pk, whop_id, count in mine
    }
