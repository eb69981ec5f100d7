"""Celery tasks: thin wrappers that take primary keys and call services.

Each task is idempotent (the row's lease and "is work due?" check make repeats harmless), so
``acks_late`` redelivery, the sweeper and countdown retries may overlap safely. Retry policy
lives in ``services`` (it reschedules with backoff or Retry-After), not in Celery's autoretry.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import beat_init

from . import services
from .conf import dm_bridge_settings

logger = logging.getLogger("dm_bridge")


@shared_task(name="dm_bridge.drive_channel", ignore_result=True, acks_late=True)
def drive_channel(channel_pk: int) -> str:
    outcome = services.drive_channel(channel_pk)
    logger.debug("drive_channel(%s) -> %s", channel_pk, outcome)
    return outcome


@shared_task(name="dm_bridge.drive_user_link", ignore_result=True, acks_late=True)
def drive_user_link(link_pk: int) -> str:
    return services.drive_user_link(link_pk)


class SweepTask(Task):
    """Sent to ``DM_BRIDGE['SWEEP_QUEUE']`` (read when sent, e.g. by beat), so the sweeper is
    never stuck behind a backlog of channel work in the default queue."""

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if queue := dm_bridge_settings.SWEEP_QUEUE:
            options.setdefault("queue", queue)
        return super().apply_async(args, kwargs, **options)


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
