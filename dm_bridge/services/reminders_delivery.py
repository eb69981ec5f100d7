"""Sending one reminder: under its lease, re-checked, the attempt recorded before SMTP.

The states (``Reminder.Status``): ``pending`` → ``sending`` (committed *before* the mail
server hears of it) → ``sent``; ``skipped`` when nothing is left to remind of (read, muted,
left, turned off) and ``failed`` after a refusal (5xx) or ``MAX_ATTEMPTS`` failures in a row.
A reminder found ``sending`` again (its worker died) is sent again with the same Message-ID:
the one ambiguous window, explained in :mod:`.reminders`.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import signals
from ..conf import dm_bridge_settings
from ..models import Reminder, UnreadMessage
from . import reminders_mail
from .engine.leases import claim, is_due, release
from .engine.retry_policy import retry_delay
from .reminders import (
    OPEN,
    Frequency,
    dispatch_reminder,
    enqueue_reminder,
    remindable_members,
    reminder_frequency,
    still_unread,
)
from .validation import max_attempts

logger = logging.getLogger("dm_bridge")


def send_reminder(reminder_pk: int) -> str:
    """Send one reminder under its lease; returns what happened (for logs and tests)."""
    claimed = claim(Reminder, reminder_pk)
    if claimed is None:
        return "busy"
    reminder, token = claimed
    try:
        return _deliver(reminder)
    finally:
        release(reminder, token)


def _deliver(reminder: Reminder) -> str:
    if reminder.status not in OPEN:
        return str(reminder.status)
    if not is_due(reminder):
        return "not due"
    items = _wanted_messages(reminder)
    if not items:
        _finish(
            reminder, Reminder.Status.SKIPPED, "Read, muted, left or turned off before sending."
        )
        return "skipped"
    email = reminders_mail.compose(reminder, items)
    if not email.to:
        _finish(reminder, Reminder.Status.FAILED, "The user has no verified email address.")
        return "failed"
    if reminder.status == Reminder.Status.SENDING:
        # The last attempt may have been delivered (see the module docstring): the same
        # Message-ID goes out again, so a copy is recognisable.
        logger.warning(
            "reminder %s: resending %s after an interrupted attempt",
            reminder.pk,
            email.extra_headers["Message-ID"],
        )
    # The attempt is recorded (and committed) before the mail server hears of it.
    Reminder.objects.filter(pk=reminder.pk).update(
        status=Reminder.Status.SENDING,
        attempts=F("attempts") + 1,
        recipient=email.to[0],
        subject=email.subject[:255],
        message_id=email.extra_headers["Message-ID"],
        message_count=len(items),
    )
    responses = signals.dm_reminder_due.send_robust(
        sender=Reminder, reminder=reminder, user=reminder.user, messages=items
    )
    for receiver, answer in responses:
        if isinstance(answer, Exception):
            logger.error("dm_reminder_due receiver %r failed: %r", receiver, answer)
    if not dm_bridge_settings.REMINDER_EMAIL:
        _finish(reminder, Reminder.Status.SENT, "Not emailed (REMINDER_EMAIL is off); signal sent.")
        return "sent"
    try:
        email.send()
    except Exception as exc:
        return _record_failure(reminder, exc)
    connection = email.connection
    server = f"{getattr(connection, 'host', '')}:{getattr(connection, 'port', '')}".strip(":")
    _finish(reminder, Reminder.Status.SENT, f"Accepted by the mail server {server}".strip())
    return "sent"


def _wanted_messages(reminder: Reminder) -> list[UnreadMessage]:
    """The reminder's messages that still warrant an email now (read or muted ones do not)."""
    if reminder_frequency(reminder.user) == Frequency.OFF:
        return []
    return list(
        reminder.messages.filter(still_unread(), member__in=remindable_members())
        .select_related("member__channel")
        .order_by("sent_at", "pk")
    )


def _finish(reminder: Reminder, status: str, delivery: str) -> None:
    now = timezone.now()
    updates: dict[str, Any] = {"status": status, "delivery": delivery, "next_attempt_at": None}
    if status == Reminder.Status.SENT:
        updates.update(sent_at=now, failures=0, waiting_since=None)
    if status == Reminder.Status.FAILED:
        updates.update(last_error=delivery, last_error_at=now, failures=F("failures") + 1)
    Reminder.objects.filter(pk=reminder.pk).update(**updates)
    if status == Reminder.Status.SENT:
        reminder.refresh_from_db()
        transaction.on_commit(
            lambda: signals.dm_reminder_sent.send(
                sender=Reminder, reminder=reminder, user=reminder.user
            )
        )
    logger.info("reminder %s %s: %s", reminder.pk, status, delivery)


def _is_permanent(exc: BaseException) -> bool:
    """The server refused for good (5xx): retrying the same message cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def _never_delivered(exc: BaseException) -> bool:
    """The server refused (an SMTP error reply) or was never reached: nothing was accepted.
    A timeout or a dropped connection may have come after the server took the message."""
    refused = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)
    return isinstance(exc, (*refused, ConnectionRefusedError))


def _record_failure(reminder: Reminder, exc: BaseException) -> str:
    reason = f"{type(exc).__name__}: {exc}"[:500]
    reminder.refresh_from_db()
    if _is_permanent(exc) or reminder.failures + 1 >= max_attempts():
        _finish(reminder, Reminder.Status.FAILED, f"Not sent: {reason}")
        return "failed"
    now = timezone.now()
    delay = retry_delay(reminder.failures + 1, exc)
    Reminder.objects.filter(pk=reminder.pk).update(
        # A refusal or a refused connection left nothing behind; a timeout mid-DATA may have.
        status=Reminder.Status.PENDING if _never_delivered(exc) else Reminder.Status.SENDING,
        failures=F("failures") + 1,
        waiting_since=Coalesce("waiting_since", Value(now)),
        last_error=reason,
        last_error_at=now,
        next_attempt_at=now + timedelta(seconds=delay),
        delivery=f"Retrying in {delay:.0f} s: {reason}",
    )
    logger.warning("reminder %s: %s (retry in %.1fs)", reminder.pk, reason, delay)
    transaction.on_commit(lambda: dispatch_reminder(reminder.pk, countdown=delay))
    return "retrying"


def retry_reminder(reminder: Reminder) -> None:
    """Admin "retry now": a failed reminder is sent again (its messages permitting)."""
    with transaction.atomic():
        updated = Reminder.objects.filter(
            pk=reminder.pk, status__in=(Reminder.Status.FAILED, *OPEN)
        ).update(
            status=Reminder.Status.PENDING,
            failures=0,
            waiting_since=None,
            next_attempt_at=timezone.now(),
        )
        if updated:
            enqueue_reminder(reminder.pk)
