"""A member's own preferences per conversation: mute and archive (web side).

They are desired state on the membership (``DmMember.muted`` / ``archived``), like
membership itself: a request writes the row and marks the channel due, and the engine
(``engine.converge``) applies it to Whop's member record through ``dm_members.update`` —
``notification_preference`` ``"none"`` when muted, ``status`` ``"archived"`` when archived.

Only contradictions are corrected on Whop: a member who is not muted keeps whatever level
other than ``"none"`` Whop has (e.g. ``"mentions"`` set in Whop's own app), and a member who
is not archived keeps any status but ``"archived"``. Unknown Whop values count as Whop's
defaults for a new member (``"all"`` / ``"accepted"``), so existing members cost no calls.

A Whop DM shared by several local channels (same member set, see the README) has one member
record per user on Whop: a preference is set on all of the user's memberships of it, so two
rows never pull Whop's record in opposite directions.

Muted memberships still count as unread but get no reminders
(``DmMember.objects.wants_reminders()``); archived ones leave the inbox until a message sent
after the archiving arrives (``unarchive_on_new_message``, called by ``incoming``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from whop_sdk import PostChatMessageCreatedPayload

from .. import signals
from ..exceptions import InvalidDmRequest
from ..models import DmChannel, DmMember, WhopUserLink
from .engine.scheduling import mark_due, send_on_commit
from .validation import CURRENT_MEMBER, current_member, lock_live_channel, require_saved_user

# Whop's values (whop_sdk.types.DmsFeedMemberNotificationPreferences / DmsFeedMemberStatuses).
WHOP_MUTED, WHOP_NOTIFY_ALL = "none", "all"
WHOP_ARCHIVED, WHOP_ACCEPTED = "archived", "accepted"

# Memberships whose Whop record contradicts what the member wants ("" = Whop's default).
OUT_OF_SYNC = (
    (Q(muted=True) & ~Q(whop_notification_preference=WHOP_MUTED))
    | Q(muted=False, whop_notification_preference=WHOP_MUTED)
    | (Q(archived=True) & ~Q(whop_member_status=WHOP_ARCHIVED))
    | Q(archived=False, whop_member_status=WHOP_ARCHIVED)
)


def mute(channel: DmChannel, user: Any, muted: bool = True) -> DmMember:
    """Mute (or, with ``muted=False``, unmute) the conversation for ``user``, here and on Whop.

    Idempotent. A muted conversation still counts as unread but sends no reminders. Raises
    ``InvalidDmRequest`` if ``user`` is not a member, ``ChannelDeletedError`` if deleted.
    """
    return _set(channel, user, muted=bool(muted))


def archive(channel: DmChannel, user: Any, archived: bool = True) -> DmMember:
    """Archive (or, with ``archived=False``, restore) the conversation in ``user``'s inbox.

    Idempotent. It comes back by itself when a message sent after this arrives.
    """
    return _set(channel, user, archived=bool(archived))


def whop_changes(member: DmMember) -> dict[str, str]:
    """What ``dm_members.update`` must send so Whop matches the member's wishes ({} if it does)."""
    return changes_for(
        member.muted,
        member.archived,
        member.whop_notification_preference,
        member.whop_member_status,
    )


def changes_for(
    muted: bool, archived: bool, notification_preference: str, member_status: str
) -> dict[str, str]:
    """``whop_changes`` from the four columns (for rows read as values, not models)."""
    changes: dict[str, str] = {}
    preference = notification_preference or WHOP_NOTIFY_ALL
    if muted != (preference == WHOP_MUTED):
        changes["notification_preference"] = WHOP_MUTED if muted else WHOP_NOTIFY_ALL
    status = member_status or WHOP_ACCEPTED
    if archived != (status == WHOP_ARCHIVED):
        changes["status"] = WHOP_ARCHIVED if archived else WHOP_ACCEPTED
    return changes


def unarchive_on_new_message(
    channels: list[DmChannel],
    payload: PostChatMessageCreatedPayload,
    author_user_ids: Collection[Any],
) -> int:
    """A new message arrived: its recipients' archived memberships come back to the inbox.

    Only memberships archived before the message was sent (a late redelivery of an older
    message leaves a newer archiving alone); the author's own messages change nothing for
    them, and when Whop names the audience only it is concerned. Returns the count.
    """
    sent_at = payload.data.message.created_at
    if timezone.is_naive(sent_at):
        sent_at = sent_at.replace(tzinfo=UTC)
    members = (
        DmMember.objects.filter(
            channel__in=[c for c in channels if c.status != DmChannel.Status.DELETED],
            status__in=CURRENT_MEMBER,
            archived=True,
        )
        .filter(Q(archived_at__isnull=True) | Q(archived_at__lt=sent_at))
        .exclude(user_id__in=author_user_ids)
    )
    audience = payload.data.audience.user_ids
    if audience is not None:
        members = members.filter(
            user_id__in=WhopUserLink.objects.filter(whop_user_id__in=audience).values("user_id")
        )
    return _apply(members, archived=False)


def _set(channel: DmChannel, user: Any, **wish: bool) -> DmMember:
    require_saved_user(user)
    with transaction.atomic():
        channel = lock_live_channel(channel)
        member = current_member(channel, user)
        if member is None:
            raise InvalidDmRequest(f"User {user.pk} is not a member of DM channel {channel.pk}.")
        same_whop_member = Q(pk=member.pk)
        if channel.whop_channel_id:
            same_whop_member |= Q(channel__whop_channel_id=channel.whop_channel_id)
        _apply(
            DmMember.objects.filter(same_whop_member, user=user, status__in=CURRENT_MEMBER).exclude(
                channel__status=DmChannel.Status.DELETED
            ),
            **wish,
        )
        member.refresh_from_db()
    return member


def _apply(members: QuerySet[DmMember], **wish: bool) -> int:
    """Set ``wish`` (``muted=`` or ``archived=``) on the memberships that differ; the engine
    applies it on Whop, and each change is signalled after commit."""
    ((field, value),) = wish.items()
    # Keys first: on every incoming message this finds nothing, and a bare key query is the
    # cheapest way to learn that; the rows (with channel and user) only when there are some.
    keys = list(members.exclude(**wish).values_list("pk", flat=True))
    if not keys:
        return 0
    changing = list(
        DmMember.objects.filter(pk__in=keys).select_related("channel", "user").order_by("pk")
    )
    updates: dict[str, Any] = dict(wish)
    if field == "archived":
        updates["archived_at"] = timezone.now() if value else None
    DmMember.objects.filter(pk__in=[m.pk for m in changing]).update(
        **updates, updated_at=timezone.now()
    )
    signal = signals.dm_member_muted if field == "muted" else signals.dm_member_archived
    for channel in {m.channel_id: m.channel for m in changing}.values():
        mark_due(channel)
    for member in changing:
        for name, new in updates.items():
            setattr(member, name, new)
        send_on_commit(
            signal, DmMember, channel=member.channel, member=member, user=member.user, **wish
        )
    return len(changing)
