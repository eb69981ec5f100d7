"""Celery tasks: thin wrappers that take primary keys and call services.

Each task is idempotent (the row's lease and "is work due?" check make repeats harmless), so
``acks_late`` redelivery, the sweeper and countdown retries may overlap safely. Retry policy
lives in ``services`` (it reschedules with backoff or Retry-After), not in Celery's autoretry.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.result import AsyncResult
from celery.signals import beat_init

from . import services, webhooks
from .conf import dm_bridge_settings

logger = logging.getLogger("dm_bridge")


@shared_task(name="dm_bridge.drive_channel", ignore_result=True, acks_late=True)
def drive_channel(channel_pk: int) -> str:
    outcome = services.drive_channel(channel_pk)
    logger.debug("drive_channel(%s) -> %s", channel_pk, outcome)
    return outcome


@shared_task(name="dm_bridge.drive_channels", ignore_result=True, acks_late=True)
def drive_channels(channel_pks: list[int]) -> dict[str, int]:
    """Channels handed over together (``services.bulk()``), up to ``BATCH_SIZE`` per task."""
    outcomes = services.drive_channels(channel_pks)
    logger.debug("drive_channels(%s) -> %s", channel_pks, outcomes)
    return outcomes


@shared_task(name="dm_bridge.drive_user_link", ignore_result=True, acks_late=True)
def drive_user_link(link_pk: int) -> str:
    return services.drive_user_link(link_pk)


# WEBHOOK_APPLY = "worker" (webhooks.py): the receiver's drain, and one event's retry.
@shared_task(name="dm_bridge.apply_webhook_events", ignore_result=True, acks_late=True)
def apply_webhook_events() -> int:
    return webhooks.drain_received()


@shared_task(name="dm_bridge.apply_webhook_event", ignore_result=True, acks_late=True)
def apply_webhook_event(event_pk: int) -> str:
    return webhooks.apply_stored_event(event_pk)


class SweepTask(Task[[], dict[str, int]]):
    """Sent to ``DM_BRIDGE['SWEEP_QUEUE']`` (read when sent, e.g. by beat), so the sweeper is
    never stuck behind a backlog of channel work in the default queue."""

    def apply_async(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        *more: Any,  # task_id, producer, … passed on as they came
        **options: Any,
    ) -> AsyncResult[dict[str, int]]:
        if queue := dm_bridge_settings.SWEEP_QUEUE:
            options.setdefault("queue", queue)
        return super().apply_async(args, kwargs, *more, **options)


@shared_task(name="dm_bridge.sweep", base=SweepTask, ignore_result=True)
def sweep() -> dict[str, int]:
    return services.sweep()


@beat_init.connect
def schedule_sweeper(sender: Any, **kwargs: Any) -> None:
    """Celery beat runs the sweeper every ``SWEEP_INTERVAL`` seconds, unless the host's own
    schedule (``CELERY_BEAT_SCHEDULE``) already has an entry for ``dm_bridge.sweep``."""
    scheduler = sender.scheduler
    if any(entry.task == "dm_bridge.sweep" for entry in scheduler.schedule.values()):
        return
    interval = float(dm_bridge_settings.SWEEP_INTERVAL)
    scheduler.update_from_dict(
        {"dm-bridge-sweep": {"task": "dm_bridge.sweep", "schedule": interval}}
    )


# --- email reminders (services/reminders.py) --------------------------------------------------


@shared_task(name="dm_bridge.send_reminder", ignore_result=True, acks_late=True)
def send_reminder(reminder_pk: int) -> str:
    return services.send_reminder(reminder_pk)


# On the sweeper's queue: like the sweeper it only finds work, so it must not wait behind it.
@shared_task(name="dm_bridge.scan_reminders", base=SweepTask, ignore_result=True)
def scan_reminders() -> dict[str, int]:
    return services.scan_reminders()


@beat_init.connect
def schedule_reminder_scan(sender: Any, **kwargs: Any) -> None:
    """With ``REMINDERS_ENABLED``, beat scans for due reminders every ``REMINDER_SCAN_INTERVAL``
    seconds, unless ``CELERY_BEAT_SCHEDULE`` already has an entry for the task."""
    scheduler = sender.scheduler
    if not dm_bridge_settings.REMINDERS_ENABLED or any(
        entry.task == "dm_bridge.scan_reminders" for entry in scheduler.schedule.values()
    ):
        return
    interval = float(dm_bridge_settings.REMINDER_SCAN_INTERVAL)
    scheduler.update_from_dict(
        {"dm-bridge-reminders": {"task": "dm_bridge.scan_reminders", "schedule": interval}}
    )
