"""Email reminders about unread DMs: record unread messages, batch them, send each batch once.

The flow, and why each step is shaped the way it is:

1. ``record_unread_messages`` (called from :mod:`.incoming` inside the webhook's transaction)
   stores one :class:`~dm_bridge.models.UnreadMessage` per (membership, Whop message) for the
   members the message is unread for. The unique constraint makes redelivered, reprocessed
   or reordered webhooks harmless.
2. ``scan_reminders`` (Celery beat, every ``REMINDER_SCAN_INTERVAL`` s) turns unread messages
   older than ``REMINDER_DELAY`` into a :class:`~dm_bridge.models.Reminder` — one per
   membership and batch (``batch_key`` is unique; each message joins exactly one batch under
   a lock on the membership), at most one per membership per ``REMINDER_WINDOW``, or one
   daily digest per user and day. It also re-enqueues reminders whose worker was lost.
3. ``reminders_delivery.send_reminder`` (a worker, under the row's lease) re-checks that the reminder is still
   wanted (still a member, not muted, not read meanwhile, preference), records the attempt
   (``sending``) and only then calls SMTP, then records ``sent``.

**The guarantee.** A batch gets one row, so it gets one email — except in one window: the
mail server accepted the message (250 to DATA) and the worker died (or lost the database)
before recording ``sent``. The row is then still ``sending`` and is sent again when its lease
expires, with the *same* ``Message-ID`` (derived from the row), so the copy is recognisable
and mail clients that thread by Message-ID show one. The window is bounded by one SMTP call
plus one UPDATE; a crash anywhere else (before the attempt is recorded, while connecting,
while sending the data) neither loses nor duplicates the email. We chose at-least-once over
at-most-once at that boundary: a lost reminder is invisible, a rare twin is not harmful.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.utils import timezone
from whop_sdk import PostChatMessageCreatedPayload

from ..adapters import get_user_adapter
from ..conf import dm_bridge_settings
from ..db import insert_from_select
from ..exceptions import InvalidDmRequest
from ..models import (
    DmChannel,
    DmMember,
    Reminder,
    ReminderPreference,
    UnreadMessage,
    WhopUserLink,
)

logger = logging.getLogger("dm_bridge")

Frequency = ReminderPreference.Frequency
OPEN = (Reminder.Status.PENDING, Reminder.Status.SENDING)
CURRENT = (DmMember.Status.ACTIVE, DmMember.Status.PENDING)
PREVIEW_CHARS = 140
UNSUBSCRIBE_SALT = "dm_bridge.reminders.unsubscribe"
# Unread messages nobody will be reminded about any more (left waiting by a window, a digest
# that was off, …) are dropped after this long, so turning reminders on never mails old news.
STALE_AFTER = timedelta(days=7)


# --- preferences and unsubscribe links ------------------------------------------------------


def reminder_frequency(user: Any) -> str:
    """The user's choice (``batch``, ``daily`` or ``off``), else ``REMINDER_DEFAULT_FREQUENCY``."""
    return _frequency_of(user.pk)


def _frequency_of(user_pk: int) -> str:
    chosen = ReminderPreference.objects.filter(user_id=user_pk).values_list("frequency", flat=True)
    return next(iter(chosen), None) or str(dm_bridge_settings.REMINDER_DEFAULT_FREQUENCY)


def set_reminder_frequency(user: Any, frequency: str) -> ReminderPreference:
    """Store how often ``user`` wants reminders; ``InvalidDmRequest`` for an unknown choice."""
    if frequency not in Frequency.values:
        raise InvalidDmRequest(
            f"Choose one of {', '.join(Frequency.values)} for how often to be reminded."
        )
    preference, _ = ReminderPreference.objects.update_or_create(
        user=user, defaults={"frequency": frequency}
    )
    return preference


def unsubscribe_token(user: Any) -> str:
    """A signed, timestamped token that turns ``user``'s reminders off (and nothing else)."""
    return signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT)


def user_for_unsubscribe_token(token: str) -> Any | None:
    """The user a valid token was made for; None if forged, for another purpose or expired."""
    try:
        data = signing.loads(
            token,
            salt=UNSUBSCRIBE_SALT,
            max_age=timedelta(seconds=float(dm_bridge_settings.REMINDER_UNSUBSCRIBE_MAX_AGE)),
        )
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    pk = data.get("u") if isinstance(data, dict) else None
    return get_user_model().objects.filter(pk=pk).first() if isinstance(pk, int) else None


# --- 1. recording unread messages (webhooks) ------------------------------------------------


def remindable_members() -> models.QuerySet[DmMember]:
    """Memberships reminders may go to: current, in a live channel, active user, not muted."""
    members = DmMember.objects.filter(status__in=CURRENT, user__is_active=True).exclude(
        channel__status=DmChannel.Status.DELETED
    )
    return members.wants_reminders()  # not muted (``DmMember.muted``)


def record_unread_messages(
    channels: list[DmChannel],
    payload: PostChatMessageCreatedPayload,
    author_user_ids: set[Any],
    author_users: Mapping[Any, Any] | None = None,
) -> int:
    """Remember the message for each member it is unread for; returns how many were new.

    The same recipients the unread counts use (everyone but the author, or Whop's audience,
    who had not read up to it), one membership per user when several local rows share the DM.
    """
    if not dm_bridge_settings.REMINDERS_ENABLED:
        return 0
    message = payload.data.message
    sent_at = _aware(message.created_at)
    recipients = (
        remindable_members()
        .exclude(_has_frequency(Frequency.OFF, "user__"))
        .filter(channel__in=channels)
        .exclude(user_id__in=author_user_ids)
        .filter(Q(last_read_at__isnull=True) | Q(last_read_at__lt=sent_at))
    )
    audience = payload.data.audience.user_ids
    if audience is not None:
        linked = WhopUserLink.objects.filter(whop_user_id__in=audience).values("user_id")
        recipients = recipients.filter(user_id__in=linked)
    if len(channels) > 1:
        # A Whop DM shared by local rows: one unread message per user (their first row), not two.
        earlier = recipients.filter(
            user_id=OuterRef("user_id"), channel_id__lt=OuterRef("channel_id")
        )
        recipients = recipients.exclude(Exists(earlier))
    preview = _preview(message.content) if dm_bridge_settings.REMINDER_PREVIEW else ""
    # One INSERT … SELECT: a 50-member group DM costs one round trip, not 50 model rows.
    return insert_from_select(
        UnreadMessage,
        {
            "member": F("pk"),
            "whop_message_id": Value(message.id),
            "author_name": Value(_author_name(message, author_user_ids, author_users or {})),
            "by_member": Value(bool(author_user_ids)),
            "preview": Value(preview),
            "sent_at": Value(sent_at),
            "received_at": Value(timezone.now()),
        },
        recipients.order_by(),
    )


def _author_name(message: Any, author_user_ids: set[Any], loaded: Mapping[Any, Any]) -> str:
    if len(author_user_ids) == 1:
        (pk,) = author_user_ids
        user = loaded.get(pk) or get_user_model().objects.filter(pk=pk).first()
        if user is not None:
            return str(get_user_adapter().get_display_name(user))[:150]
    return (message.user.name or message.user.username or "Someone")[:150]


def _preview(content: str | None) -> str:
    text = " ".join((content or "").split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


# --- 2. the scan: batches, digests, lost work -----------------------------------------------


def scan_reminders(limit: int = 200) -> dict[str, int]:
    """Create the reminders that are due and re-enqueue those whose worker was lost.

    Only members who can get a reminder *now* are picked (not inside a window, not waiting
    for a digest), so members who must wait never crowd out those who need not.
    """
    if not dm_bridge_settings.REMINDERS_ENABLED:
        return {"batches": 0, "digests": 0, "resumed": 0, "dropped": 0}
    now = timezone.now()
    # A batch starts with a person's message; the app's own notes (an "About: …") join one.
    due = UnreadMessage.objects.filter(
        reminder__isnull=True, by_member=True, received_at__lte=now - _delay()
    ).filter(still_unread())
    window = timedelta(seconds=float(dm_bridge_settings.REMINDER_WINDOW))
    blocked = Reminder.objects.filter(member=OuterRef("member")).filter(
        Q(status__in=OPEN) | Q(status=Reminder.Status.SENT, created_at__gt=now - window)
    )
    members = (
        due.filter(_has_frequency(Frequency.BATCH, "member__user__"))
        .exclude(Exists(blocked))
        .order_by()
        .values_list("member_id", flat=True)
        .distinct()[:limit]
    )
    batches = sum(_open_batch(member_pk, now) for member_pk in list(members))
    digests = 0
    local = timezone.localtime(now)
    if local.hour >= int(dm_bridge_settings.REMINDER_DIGEST_HOUR):
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        had_one = Reminder.objects.filter(
            user=OuterRef("member__user"), kind=Reminder.Kind.DIGEST, created_at__gte=today
        )
        users = (
            due.filter(_has_frequency(Frequency.DAILY, "member__user__"))
            .exclude(Exists(had_one))
            .order_by()
            .values_list("member__user_id", flat=True)
            .distinct()[:limit]
        )
        digests = sum(_open_digest(user_pk, now) for user_pk in list(users))
    resumed = _resume_lost(now, limit)
    dropped = _drop_stale(now)
    if batches or digests or resumed:
        logger.info(
            "reminders: %d batches, %d digests opened, %d resumed", batches, digests, resumed
        )
    return {"batches": batches, "digests": digests, "resumed": resumed, "dropped": dropped}


def _has_frequency(frequency: str, prefix: str = "") -> Q:
    """Users whose effective frequency is ``frequency`` (their choice, else the default)."""
    chosen = Q(**{f"{prefix}dm_reminder_preference__frequency": frequency})
    if frequency == dm_bridge_settings.REMINDER_DEFAULT_FREQUENCY:
        return chosen | Q(**{f"{prefix}dm_reminder_preference__isnull": True})
    return chosen


def _delay() -> timedelta:
    return timedelta(seconds=float(dm_bridge_settings.REMINDER_DELAY))


def still_unread(prefix: str = "") -> Q:
    """Messages posted after the member last read the DM (mark read / their own message)."""
    read_at = f"{prefix}member__last_read_at"
    return Q(**{f"{read_at}__isnull": True}) | Q(**{f"{prefix}sent_at__gt": F(read_at)})


def _open_batch(member_pk: int, now: datetime) -> int:
    """One reminder for the member's unread messages, unless the window or a reason says no."""
    with transaction.atomic():
        # The lock makes each message join one batch even when two scans run at once.
        member = DmMember.objects.select_for_update().filter(pk=member_pk).first()
        if member is None:
            return 0
        waiting = UnreadMessage.objects.filter(member=member, reminder__isnull=True)
        if (
            _frequency_of(member.user_id) == Frequency.OFF
            or not remindable_members().filter(pk=member.pk).exists()
        ):
            waiting.delete()  # never to be reminded: muted, left, turned off
            return 0
        waiting.exclude(still_unread()).delete()  # read meanwhile
        recent = Reminder.objects.filter(member=member).filter(
            Q(status__in=OPEN)
            | Q(
                status=Reminder.Status.SENT,
                created_at__gt=now - timedelta(seconds=float(dm_bridge_settings.REMINDER_WINDOW)),
            )
        )
        if recent.exists():
            return 0  # one reminder per window: these wait for the next batch
        batch = list(waiting.order_by("sent_at", "pk"))
        if not batch or min(m.received_at for m in batch) > now - _delay():
            return 0
        return _create_reminder(
            Reminder(
                kind=Reminder.Kind.BATCH,
                batch_key=f"member:{member.pk}:{batch[0].pk}",
                user_id=member.user_id,
                member=member,
            ),
            batch,
            now,
        )


def _open_digest(user_pk: int, now: datetime) -> int:
    """Today's digest for a user (the scan calls it after ``REMINDER_DIGEST_HOUR``)."""
    local = timezone.localtime(now)
    with transaction.atomic():
        waiting = UnreadMessage.objects.filter(
            member__user_id=user_pk, reminder__isnull=True, received_at__lte=now - _delay()
        ).filter(still_unread())
        batch = list(
            waiting.filter(member__in=remindable_members()).select_for_update(of=("self",))
        )
        if not batch:
            return 0
        return _create_reminder(
            Reminder(
                kind=Reminder.Kind.DIGEST,
                batch_key=f"digest:{user_pk}:{local.date().isoformat()}",
                user_id=user_pk,
            ),
            batch,
            now,
        )


def _create_reminder(reminder: Reminder, batch: list[UnreadMessage], now: datetime) -> int:
    reminder.message_count = len(batch)
    reminder.next_attempt_at = now
    try:
        with transaction.atomic():
            reminder.save()
    except IntegrityError:
        return 0  # this batch (or today's digest) already has its reminder
    taken = UnreadMessage.objects.filter(
        pk__in=[m.pk for m in batch], reminder__isnull=True
    ).update(reminder=reminder)
    if taken != len(batch):
        # Another transaction took some of them first (a digest racing a scan): let it have them.
        transaction.set_rollback(True)
        return 0
    enqueue_reminder(reminder.pk)
    return 1


def _resume_lost(now: datetime, limit: int) -> int:
    """Reminders that are due and unclaimed: a killed worker, a lost task, a redeploy."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    # Due for a scan interval already: a reminder enqueued a moment ago is not lost.
    grace = timedelta(seconds=float(dm_bridge_settings.REMINDER_SCAN_INTERVAL))
    lost = list(
        Reminder.objects.filter(free, status__in=OPEN, next_attempt_at__lte=now - grace)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in lost:
        dispatch_reminder(pk)
    return len(lost)


def _drop_stale(now: datetime) -> int:
    """Forget unread messages no reminder will take: read since, or waiting too long."""
    waiting = UnreadMessage.objects.filter(reminder__isnull=True)
    stale = Q(received_at__lt=now - STALE_AFTER) | ~still_unread()
    deleted, _ = waiting.filter(stale).delete()
    return deleted


def enqueue_reminder(pk: int) -> None:
    transaction.on_commit(lambda: dispatch_reminder(pk))


def dispatch_reminder(pk: int, countdown: float | None = None) -> None:
    """Hand a reminder to a worker; if the broker is down, the next scan finds it."""
    if not dm_bridge_settings.TASKS_ENABLED:
        if countdown is None:
            from .reminders_delivery import send_reminder  # it schedules through this module

            send_reminder(pk)
        return  # inline mode: a delayed retry waits for the next scan
    from .. import tasks

    try:
        if countdown is None:
            tasks.send_reminder.apply_async((pk,))
        else:
            tasks.send_reminder.apply_async((pk,), countdown=countdown)
    except Exception:  # the broker being down must never fail the caller
        logger.warning("could not enqueue reminder %s; the scan will pick it up", pk, exc_info=True)
