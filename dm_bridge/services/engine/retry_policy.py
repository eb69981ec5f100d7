"""Retry policy: how long to wait after a failure, and when to stop.

A permanent error stops at once; a refusal (e.g. 409) after ``MAX_ATTEMPTS`` in a row; Whop
being unavailable only once the failure streak is older than ``RETRY_HORIZON``. Waits follow
``Retry-After`` when Whop gives one, otherwise capped exponential backoff with equal jitter.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC
from typing import Any

from django.db import models
from django.utils import timezone

from ... import signals
from ...conf import dm_bridge_settings
from ...models import DmChannel, WorkState
from ...whop import WhopError
from ..validation import max_attempts
from ..wording import describe_error
from .scheduling import reschedule, send_on_commit

logger = logging.getLogger("dm_bridge")


def retry_delay(failures: int, exc: BaseException) -> float:
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        return float(retry_after) + random.uniform(0, 0.25)
    cap = min(
        float(dm_bridge_settings.RETRY_BACKOFF_MAX),
        # The exponent is capped too: a day-long streak must not overflow a float.
        float(dm_bridge_settings.RETRY_BACKOFF_BASE) * 2 ** min(failures - 1, 40),
    )
    return max(0.5, random.uniform(cap / 2, cap))  # "equal jitter": spread out, never zero


def _is_refusal(exc: WhopError) -> bool:
    """Whop answered and said no (409 Conflict), rather than being unavailable (no answer,
    408, 429, 5xx): retryable by the table, but it may never clear by itself."""
    return exc.status is not None and exc.status < 500 and exc.status not in (408, 429)


def give_up_reason(row: WorkState, exc: WhopError) -> str | None:
    """Why the row stops after this failure, or None to retry it: a permanent error at once,
    a retryable refusal after MAX_ATTEMPTS in a row, Whop being unavailable only once the
    streak is older than RETRY_HORIZON."""
    reason = describe_error(exc)
    if not exc.retryable:
        return reason
    failures = row.failures + 1
    if _is_refusal(exc):
        if failures < max_attempts():
            return None
        return f"Gave up after Whop refused it {failures} times in a row. Last: {reason}"
    now = timezone.now()
    since = row.waiting_since or now
    horizon = float(dm_bridge_settings.RETRY_HORIZON)
    if (now - since).total_seconds() < horizon:
        return None
    span = f"{horizon / 3600:g} h" if horizon >= 3600 else f"{horizon:g} s"
    return (
        f"Gave up: Whop has been failing for it since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} "
        f"UTC, longer than DM_BRIDGE['RETRY_HORIZON'] ({span}). Last: {reason}"
    )


def record_whop_failure(channel: DmChannel, exc: WhopError) -> str:
    channel.refresh_from_db()
    if not exc.ambiguous and not channel.whop_channel_id:
        # Whop answered with an error, so the create did not happen: nothing to look for.
        DmChannel.objects.filter(pk=channel.pk).update(needs_reconcile=False)
    elif exc.ambiguous and channel.whop_channel_id:
        DmChannel.objects.filter(pk=channel.pk).update(needs_reconcile=True)
    reason = give_up_reason(channel, exc)
    if reason is not None:
        fail_channel(channel, reason)
        return "failed"
    delay = retry_delay(channel.failures + 1, exc)
    logger.warning(
        "dm channel %s: %s (retry %d in %.1fs)", channel.pk, exc, channel.failures + 1, delay
    )
    reschedule(channel, delay, count_failure=True, error=describe_error(exc))
    return "retrying"


def fail_channel(channel: DmChannel, reason: str) -> None:
    logger.error("dm channel %s (key %r) failed: %s", channel.pk, channel.key, reason)
    now = timezone.now()
    updates: dict[str, Any] = {
        "last_error": reason,
        "last_error_at": now,
        "next_attempt_at": None,
        "failures": models.F("failures") + 1,
    }
    if channel.status != DmChannel.Status.DELETED:
        updates["status"] = DmChannel.Status.FAILED
    DmChannel.objects.filter(pk=channel.pk).update(**updates)
    channel.refresh_from_db()
    send_on_commit(signals.dm_channel_failed, DmChannel, channel=channel, error=reason)


def fail_row(row: WorkState, reason: str) -> None:
    now = timezone.now()
    type(row)._default_manager.filter(pk=row.pk).update(
        status="failed",
        last_error=reason,
        last_error_at=now,
        next_attempt_at=None,
        failures=models.F("failures") + 1,
    )
    row.refresh_from_db()
