"""Reports and the moderation queue: file a report, read its messages in context from Whop,
and act on it (dismiss, warn, remove a user, block site-wide, delete the DM), every action
kept in the audit log (``ModerationAction``).

``file_report`` is the one way in, for users (the REST API, the host's pages) and for
detectors alike; it is idempotent per (channel, message, source, reporter). Moderator actions
go through ``act_on_report`` (admin calls it), which refuses an action without a reason.
Blocks live in ``services.blocks``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import signals
from ..conf import dm_bridge_settings
from ..exceptions import DmBridgeError, InvalidDmRequest
from ..models import DmChannel, ModerationAction, Report
from .channels import delete_channel, post_message, remove_member
from .engine.scheduling import send_on_commit
from .validation import CURRENT_MEMBER, require_saved_user

logger = logging.getLogger("dm_bridge")

WHOP_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch
MAX_REASON_LENGTH = 2000


def file_report(
    channel: DmChannel,
    *,
    category: str,
    note: str = "",
    reporter: Any = None,
    whop_message_id: str = "",
    source: str = "user",
) -> Report:
    """Put a conversation (or one of its messages, ``whop_message_id``) in the moderation queue.

    ``category``: one of ``Report.Category`` (spam, harassment, scam, off_platform, other);
    ``source``: ``"user"`` or ``"detector"``; ``reporter``: the user who reported (None for a
    detector). Idempotent: the same (channel, message, source, reporter) returns the row it
    made the first time, whatever its status now. Raises ``InvalidDmRequest`` for bad input
    before writing anything. Sends ``dm_report_filed`` after commit.
    """
    if category not in Report.Category.values:
        raise InvalidDmRequest(
            f"Unknown report category {category!r}; use one of {', '.join(Report.Category.values)}."
        )
    if source not in Report.Source.values:
        raise InvalidDmRequest(f"Unknown report source {source!r}; use 'user' or 'detector'.")
    note = (note or "").strip()
    if len(note) > int(dm_bridge_settings.MODERATION_NOTE_MAX_LENGTH):
        raise InvalidDmRequest(
            f"A note can be at most {dm_bridge_settings.MODERATION_NOTE_MAX_LENGTH} characters."
        )
    whop_message_id = (whop_message_id or "").strip()
    if whop_message_id and not WHOP_MESSAGE_ID.fullmatch(whop_message_id):
        raise InvalidDmRequest("That is not a Whop message ID.")
    if reporter is not None:
        require_saved_user(reporter)
    if channel.pk is None or not DmChannel.objects.filter(pk=channel.pk).exists():
        raise InvalidDmRequest("Only a saved DM channel can be reported.")
    lookup = {
        "channel": channel,
        "whop_message_id": whop_message_id,
        "source": source,
        "reporter": reporter,
    }
    with transaction.atomic():
        report = Report.objects.filter(**lookup).first()
        created = report is None
        if report is None:
            try:
                with transaction.atomic():
                    report = Report.objects.create(category=category, note=note, **lookup)
            except IntegrityError:  # the same report, filed concurrently
                report = Report.objects.get(**lookup)
                created = False
        send_on_commit(signals.dm_report_filed, Report, report=report, created=created)
    if created:
        logger.info(
            "report %s filed on channel %s (%s, %s)", report.pk, channel.pk, category, source
        )
    return report


# --- reading the conversation ------------------------------------------------------------------


@dataclass(frozen=True)
class ContextMessage:
    """A message as the moderation queue shows it."""

    id: str
    author: str
    content: str
    created_at: datetime
    message_type: str
    reported: bool


def recent_messages(channel: DmChannel, limit: int = 10) -> list[ContextMessage]:
    """The channel's latest ``limit`` messages, oldest first, read from Whop with the app's
    key (e.g. for a "which message?" picker on a report form). [] for a DM not on Whop.
    Raises ``DmBridgeError`` (``WhopError``) when Whop cannot be read."""
    if not channel.whop_channel_id or channel.deleted_on_whop:
        return []
    newest_first: list[Any] = []
    for message in _newest_first(channel, limit):
        newest_first.append(message)
        if len(newest_first) >= limit:
            break
    return [_context(m, "") for m in reversed(newest_first)]


def context_messages(report: Report) -> tuple[list[ContextMessage], str]:
    """The reported message with up to ``MODERATION_CONTEXT_MESSAGES`` before and after it
    (or the latest ones for a whole-conversation report), oldest first, read from Whop with the
    app's key; and a sentence for the admin when that is not possible ('' otherwise)."""
    channel = report.channel
    if not channel.whop_channel_id:
        return [], "This DM was never created on Whop, so it has no messages."
    if channel.deleted_on_whop:
        return [], "This DM was deleted on Whop with its messages."
    around = int(dm_bridge_settings.MODERATION_CONTEXT_MESSAGES)
    scan = int(dm_bridge_settings.MODERATION_CONTEXT_SCAN)
    wanted = report.whop_message_id
    newest_first: list[Any] = []
    found = -1
    try:
        for message in _newest_first(channel, scan):
            newest_first.append(message)
            if wanted and message.id == wanted:
                found = len(newest_first) - 1
            # Found: `around` newer ones are already in; stop after `around` older ones.
            limit = found + around + 1 if found >= 0 else (scan if wanted else 2 * around)
            if len(newest_first) >= limit:
                break
    except DmBridgeError as exc:
        from .wording import describe_error

        return [], f"Could not read the messages from Whop: {describe_error(exc)}"
    note = ""
    if wanted and found < 0:
        note = (
            f"The reported message {wanted} is not among the latest {scan} messages (deleted, "
            "or older); the latest ones are shown."
        )
        newest_first = newest_first[: 2 * around]
    elif found >= 0:
        newest_first = newest_first[max(0, found - around) : found + around + 1]
    return [_context(m, wanted) for m in reversed(newest_first)], note


def _newest_first(channel: DmChannel, page_size: int) -> Any:
    """Every message of the channel, newest first, fetched page by page as iterated."""
    from ..gateway import get_client  # only moderation views and forms read messages

    return iter(
        get_client().messages.list(
            channel_id=channel.whop_channel_id, direction="desc", first=max(1, min(page_size, 100))
        )
    )


def _context(message: Any, reported_id: str) -> ContextMessage:
    user = message.user
    return ContextMessage(
        id=message.id,
        author=(user.name or user.username) if user is not None else "",
        content=message.content or "",
        created_at=message.created_at,
        message_type=str(message.message_type),
        reported=bool(reported_id) and message.id == reported_id,
    )


# --- acting on a report ------------------------------------------------------------------------

ACTIONS = {
    ModerationAction.Kind.DISMISS,
    ModerationAction.Kind.WARN,
    ModerationAction.Kind.REMOVE_MEMBER,
    ModerationAction.Kind.BLOCK_SITE_WIDE,
    ModerationAction.Kind.DELETE_CHANNEL,
}
NEEDS_USER = {ModerationAction.Kind.REMOVE_MEMBER, ModerationAction.Kind.BLOCK_SITE_WIDE}


def act_on_report(
    report: Report, kind: str, *, moderator: Any, reason: str, user: Any = None
) -> ModerationAction:
    """Do ``kind`` (a ``ModerationAction.Kind`` among ``ACTIONS``) about ``report`` and log it.

    ``reason`` is required (kept in the audit log, never shown to the users); ``user`` is the
    member to remove or block site-wide. Dismiss marks the report dismissed, every other action
    marks it acted on. Raises ``InvalidDmRequest`` before changing anything.
    """
    from . import blocks

    reason = (reason or "").strip()
    if kind not in ACTIONS:
        raise InvalidDmRequest(f"Unknown moderation action {kind!r}.")
    if not reason:
        raise InvalidDmRequest("Give a reason: it is kept in the moderation log.")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidDmRequest(f"A reason can be at most {MAX_REASON_LENGTH} characters.")
    channel = report.channel
    if kind in NEEDS_USER:
        if user is None:
            raise InvalidDmRequest("Choose the user this action is about.")
        if not channel.members.filter(user=user).exists():
            raise InvalidDmRequest(f"{user} is not a member of this DM.")
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report.pk)
        block = None
        if kind == ModerationAction.Kind.WARN:
            _live(channel, "warn in")
            post_message(
                channel,
                str(dm_bridge_settings.MODERATION_WARNING_MESSAGE),
                dedupe_key=f"moderation-warning:{report.pk}:{timezone.now().timestamp():.0f}",
            )
        elif kind == ModerationAction.Kind.REMOVE_MEMBER:
            _live(channel, "remove a user from")
            if channel.members.filter(user=user, status__in=CURRENT_MEMBER).exists():
                remove_member(channel, user)
        elif kind == ModerationAction.Kind.BLOCK_SITE_WIDE:
            block = blocks.block_site_wide(user, moderator=moderator, reason=reason, log=False)
        elif kind == ModerationAction.Kind.DELETE_CHANNEL:
            _live(channel, "delete")
            delete_channel(channel)
        report.status = (
            Report.Status.DISMISSED
            if kind == ModerationAction.Kind.DISMISS
            else Report.Status.ACTIONED
        )
        report.resolved_at = timezone.now()
        report.resolved_by = moderator
        report.save(update_fields=["status", "resolved_at", "resolved_by"])
        action = log_action(
            kind,
            actor=moderator,
            report=report,
            channel=channel,
            target_user=user,
            block=block,
            reason=reason,
        )
    logger.info("moderator %s: %s on report %s", getattr(moderator, "pk", None), kind, report.pk)
    return action


def log_action(kind: str, *, actor: Any, reason: str = "", **about: Any) -> ModerationAction:
    """Write one audit row and send ``dm_moderation_action`` after commit."""
    action = ModerationAction.objects.create(kind=kind, actor=actor, reason=reason, **about)
    send_on_commit(
        signals.dm_moderation_action, ModerationAction, action=action, report=action.report
    )
    return action


def _live(channel: DmChannel, what: str) -> None:
    if channel.status == DmChannel.Status.DELETED:
        raise InvalidDmRequest(f"This DM was deleted; there is nothing to {what}.")
