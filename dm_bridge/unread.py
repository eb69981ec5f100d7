"""Unread state of a user's DMs, kept up to date by the webhook receiver.

``record_message`` in :mod:`dm_bridge.webhooks` counts messages in; these two read the count
and reset it when the user has seen a DM (the API's "mark read", template tags).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max
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
    return sum(row["unread"] for row in per_dm)
