"""Response times: how fast a *responder* (a host row such as a shop) answers its askers.

From webhooks (``record_message`` → ``incoming.message_received``): the asker's first message
in a channel opens its ``ConversationResponse``; the responder side's first message after that
answers it. Who is the responder and who asks is the host's call, through
``RESPONSE_TIME_ADAPTER`` (default: the channel's ``host`` responds to its ``requester``).
Messages by the app (context notes, reminders) and by unknown users count for neither side.

Each change re-computes the responder's ``ResponseSummary`` under a lock on that row (so two
webhooks for one shop cannot overwrite each other with stale figures): one aggregate over the
responder's conversations in the window. A page view reads that one row; when it is older than
``RESPONSE_TIME_REFRESH`` it is re-computed first (the window slides and unanswered questions
turn 24 h old with no event), still a constant number of queries.

A conversation counts once it was answered or has waited 24 h; "within 24 h" is the share of
those answered within a day; the typical time is the median of the answered ones. Only the
first question of a channel counts (one DM per buyer × shop is one conversation): later
questions in the same DM are not timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median_low
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from whop_sdk import PostChatMessageCreatedPayload

from ..conf import dm_bridge_settings
from ..models import ConversationResponse, DmChannel, ResponseSummary

DAY = timedelta(hours=24)


class DefaultResponseTimeAdapter:
    """Who answers whom in a channel. Name a subclass in ``RESPONSE_TIME_ADAPTER``."""

    def get_responder(self, channel: DmChannel) -> models.Model | None:
        """The row whose response time this channel counts towards (None: not counted)."""
        host = channel.host
        return host if isinstance(host, models.Model) else None

    def get_asker_ids(self, channel: DmChannel) -> set[Any]:
        """The local users whose messages start the clock; any other local author answers."""
        return {channel.requester_id} if channel.requester_id else set()


@dataclass(frozen=True)
class ResponseBadge:
    """What a page shows: "Usually replies within 2 hours" and the 24-hour share."""

    median_seconds: int
    share_within_day: float  # 0..1 of the conversations that count
    answered: int
    conversations: int

    @property
    def text(self) -> str:
        return f"Usually replies {describe_duration(self.median_seconds)}"

    @property
    def share_text(self) -> str:
        return f"Answers {round(self.share_within_day * 100)}% of conversations within 24 hours"


def describe_duration(seconds: int) -> str:
    """ "within an hour" / "within 3 hours" / "within 2 days" (rounded up, as buyers read it)."""
    hours = -(-max(seconds, 1) // 3600)
    if hours <= 1:
        return "within an hour"
    if hours < 24:
        return f"within {hours} hours"
    days = -(-hours // 24)
    return "within a day" if days == 1 else f"within {days} days"


def record_message(
    channels: list[DmChannel], payload: PostChatMessageCreatedPayload, author_user_ids: set[Any]
) -> None:
    """Time one new message (called from ``incoming.message_received``)."""
    if not author_user_ids:
        return
    sent_at = _aware(payload.data.message.created_at)
    adapter = dm_bridge_settings.RESPONSE_TIME_ADAPTER()
    for channel in channels:
        responder = adapter.get_responder(channel)
        if responder is None or responder.pk is None:
            continue
        askers = adapter.get_asker_ids(channel)
        if author_user_ids & askers:
            changed = _asked(channel, responder, sent_at)
        else:
            changed = _answered(channel, sent_at)
        if changed:
            refresh_summary(responder)


def response_badge(responder: models.Model) -> ResponseBadge | None:
    """The badge for ``responder``, or None until it answered ``RESPONSE_TIME_MIN_ANSWERED``
    conversations in the window. One query, or a few when the summary is stale."""
    ct = ContentType.objects.get_for_model(responder)  # cached per process
    summary = ResponseSummary.objects.filter(responder_type=ct, responder_id=str(responder.pk))
    row = summary.first()
    refresh = timedelta(seconds=float(dm_bridge_settings.RESPONSE_TIME_REFRESH))
    if row is not None and row.computed_at < timezone.now() - refresh:
        row = refresh_summary(responder)
    if (
        row is None
        or row.median_reply_seconds is None
        or row.answered < int(dm_bridge_settings.RESPONSE_TIME_MIN_ANSWERED)
    ):
        return None
    return ResponseBadge(
        median_seconds=row.median_reply_seconds,
        share_within_day=row.answered_within_day / max(row.conversations, 1),
        answered=row.answered,
        conversations=row.conversations,
    )


def refresh_summary(responder: models.Model, now: datetime | None = None) -> ResponseSummary:
    """Re-compute ``responder``'s summary from its conversations in the window."""
    now = now or timezone.now()
    ct = ContentType.objects.get_for_model(responder)
    window = timedelta(days=int(dm_bridge_settings.RESPONSE_TIME_WINDOW_DAYS))
    with transaction.atomic():
        summary, _ = ResponseSummary.objects.get_or_create(
            responder_type=ct, responder_id=str(responder.pk)
        )
        summary = ResponseSummary.objects.select_for_update().get(pk=summary.pk)
        rows = ConversationResponse.objects.filter(
            Q(replied_at__isnull=False) | Q(asked_at__lte=now - DAY),
            responder_type=ct,
            responder_id=str(responder.pk),
            asked_at__gte=now - window,
        )
        times = list(rows.values_list("reply_seconds", flat=True))
        answered = sorted(s for s in times if s is not None)
        summary.conversations = len(times)
        summary.answered = len(answered)
        summary.answered_within_day = sum(1 for s in answered if s <= DAY.total_seconds())
        summary.median_reply_seconds = median_low(answered) if answered else None
        summary.computed_at = now
        summary.save()
    return summary


def _asked(channel: DmChannel, responder: models.Model, sent_at: datetime) -> bool:
    ct = ContentType.objects.get_for_model(responder)
    row, created = ConversationResponse.objects.get_or_create(
        channel=channel,
        defaults={"responder_type": ct, "responder_id": str(responder.pk), "asked_at": sent_at},
    )
    if created:
        return True
    # Deliveries come in any order: an earlier question moves the start back, if still unanswered
    # by then.
    updated = (
        ConversationResponse.objects.filter(pk=row.pk, asked_at__gt=sent_at)
        .filter(Q(replied_at__isnull=True) | Q(replied_at__gte=sent_at))
        .update(asked_at=sent_at)
    )
    if updated:
        _set_reply_seconds(ConversationResponse.objects.filter(pk=row.pk))
    return bool(updated)


def _answered(channel: DmChannel, sent_at: datetime) -> bool:
    # The first answer after the question: a later-delivered earlier answer replaces it.
    updated = (
        ConversationResponse.objects.filter(channel=channel, asked_at__lte=sent_at)
        .filter(Q(replied_at__isnull=True) | Q(replied_at__gt=sent_at))
        .update(replied_at=sent_at)
    )
    if updated:
        _set_reply_seconds(ConversationResponse.objects.filter(channel=channel))
    return bool(updated)


def _set_reply_seconds(query: models.QuerySet[ConversationResponse]) -> None:
    row = query.filter(replied_at__isnull=False).first()
    if row is not None and row.replied_at is not None:
        query.update(reply_seconds=max(0, int((row.replied_at - row.asked_at).total_seconds())))


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
