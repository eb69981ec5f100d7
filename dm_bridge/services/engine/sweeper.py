"""The sweeper: re-enqueues work that is due and unclaimed (retries whose time has come, and
work lost to a killed worker, a broker outage at commit time or a redeploy). Beat runs it
every ``SWEEP_INTERVAL`` seconds on ``SWEEP_QUEUE``.
"""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from ...models import DmChannel, WebhookEvent, WhopUserLink
from .scheduling import send_task

logger = logging.getLogger("dm_bridge")


def sweep(limit: int = 500) -> dict[str, int]:
    """Re-enqueue rows whose work is due and unclaimed: retries whose time has come, and work
    lost to a killed worker, a broker outage at commit time or a redeploy."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    channels = list(
        DmChannel.objects.filter(free, next_attempt_at__lte=now)
        .exclude(status=DmChannel.Status.FAILED)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    links = list(
        WhopUserLink.objects.filter(
            free, next_attempt_at__lte=now, status=WhopUserLink.Status.PENDING
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    # WEBHOOK_APPLY "worker": failed events whose retry is due, received ones whose task was lost.
    events = list(
        WebhookEvent.objects.filter(
            next_attempt_at__lte=now,
            status__in=(WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in channels:
        send_task("drive_channel", pk)
    for pk in links:
        send_task("drive_user_link", pk)
    for pk in events:
        send_task("apply_webhook_event", pk)
    if channels or links or events:
        logger.info(
            "sweeper re-enqueued %d channels, %d user links and %d webhook events",
            len(channels),
            len(links),
            len(events),
        )
    return {"channels": len(channels), "user_links": len(links), "webhook_events": len(events)}
