"""Celery tasks: thin wrappers that take primary keys and call services.

Each task is idempotent (the row's lease and "is work due?" check make repeats harmless), so
``acks_late`` redelivery, the sweeper and countdown retries may overlap safely. Retry policy
lives in ``services`` (it reschedules with backoff or Retry-After), not in Celery's autoretry.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger("dm_bridge")


@shared_task(name="dm_bridge.drive_channel", ignore_result=True, acks_late=True)
def drive_channel(channel_pk: int) -> str:
    outcome = services.drive_channel(channel_pk)
    logger.debug("drive_channel(%s) -> %s", channel_pk, outcome)
    return outcome


@shared_task(name="dm_bridge.drive_user_link", ignore_result=True, acks_late=True)
def drive_user_link(link_pk: int) -> str:
    return services.drive_user_link(link_pk)


@shared_task(name="dm_bridge.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    return services.sweep()
