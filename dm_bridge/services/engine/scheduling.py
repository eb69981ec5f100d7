"""Scheduling: when a row is next worked on, and handing that work to Celery.

Work is enqueued on commit; if the broker is down the row keeps its due time and the sweeper
finds it later. Without ``TASKS_ENABLED`` work runs inline (tests, scripts). A requester's
channels beyond ``BACKLOG_THRESHOLD`` go to ``BACKLOG_QUEUE`` so a flood does not hold up
everyone else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Count, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ...conf import dm_bridge_settings
from ...models import DmChannel, DmMember, DmOutboxMessage, WhopUserLink, WorkState

logger = logging.getLogger("dm_bridge")


def mark_due(channel: DmChannel) -> None:
    if channel.status == DmChannel.Status.FAILED:
        revive_channel(channel)  # new work for a failed channel is a new request for it
        return
    DmChannel.objects.filter(pk=channel.pk).update(next_attempt_at=timezone.now())
    enqueue_channel(channel)


def restart(rows: models.QuerySet[Any], **changes: Any) -> None:
    """A fresh start: no failure streak held against the rows any more."""
    rows.update(failures=0, waiting_since=None, **changes)


def revive_channel(channel: DmChannel) -> None:
    """Start a channel afresh with its failed members and messages (a new request for it, or
    "Retry now"); a worker picks it up on commit."""
    if channel.status == DmChannel.Status.FAILED:
        channel.status = (
            DmChannel.Status.ACTIVE if channel.whop_channel_id else DmChannel.Status.PENDING
        )
    channel.failures, channel.waiting_since, channel.next_attempt_at = 0, None, timezone.now()
    restart(
        DmChannel.objects.filter(pk=channel.pk),
        status=channel.status,
        next_attempt_at=channel.next_attempt_at,
    )
    failed_members = channel.members.filter(status=DmMember.Status.FAILED)
    restart(failed_members, status=DmMember.Status.PENDING)
    failed_messages = channel.outbox.filter(status=DmOutboxMessage.Status.FAILED)
    restart(failed_messages, status=DmOutboxMessage.Status.PENDING)
    enqueue_channel(channel)


def retry(row: DmChannel | WhopUserLink) -> None:
    """Admin "retry now": clear the failure state and run the work again immediately."""
    with transaction.atomic():
        row = type(row)._default_manager.select_for_update().get(pk=row.pk)
        if isinstance(row, DmChannel):
            revive_channel(row)
            return
        if row.status == WhopUserLink.Status.ACTIVE:
            return  # already linked: nothing to retry
        restart(
            WhopUserLink.objects.filter(pk=row.pk),
            status=WhopUserLink.Status.PENDING,
            next_attempt_at=timezone.now(),
        )
        enqueue_user_link(row.pk)


def reschedule(row: WorkState, delay: float, *, count_failure: bool, error: str = "") -> None:
    now = timezone.now()
    updates: dict[str, Any] = {"next_attempt_at": now + timedelta(seconds=delay)}
    if count_failure:
        row.failures += 1
        row.waiting_since = row.waiting_since or now
        updates["failures"] = row.failures
        updates["waiting_since"] = Coalesce("waiting_since", Value(now))  # the streak's start
    if error:
        updates.update(last_error=error, last_error_at=now)
    type(row)._default_manager.filter(pk=row.pk).update(**updates)
    if isinstance(row, DmChannel):
        send_task("drive_channel", row.pk, countdown=delay, requester_id=row.requester_id)
    elif isinstance(row, WhopUserLink):
        send_task("drive_user_link", row.pk, countdown=delay)


# Inside ``bulk()``: the channels enqueued so far, as (pk, requester_id), sent together.
_together: ContextVar[list[tuple[int, Any]] | None] = ContextVar("dm_bridge_bulk", default=None)


def enqueue_channel(channel: DmChannel) -> None:
    pk, requester_id = channel.pk, channel.requester_id
    if (together := _together.get()) is not None:
        together.append((pk, requester_id))
        return
    transaction.on_commit(lambda: send_task("drive_channel", pk, requester_id=requester_id))


@contextmanager
def bulk() -> Iterator[None]:
    """Hand the channel work of everything in the block to the workers together.

    ``open_dm`` (and every other request) inside ``with services.bulk():`` enqueues nothing
    until the block ends; then, on commit, its channels go out in tasks of up to
    ``BATCH_SIZE`` channels (``dm_bridge.drive_channels``) instead of one task each, and a
    worker creates a task's fresh channels with the bookkeeping of the whole batch in a few
    statements. For campaigns: a seller writing to 100 buyers at once. Nested blocks join the
    outer one; a block left by an exception enqueues nothing (its rows are rolled back by the
    caller's transaction or found by the sweeper).
    """
    if _together.get() is not None:
        yield
        return
    together: list[tuple[int, Any]] = []
    reset = _together.set(together)
    try:
        yield
    finally:
        _together.reset(reset)
    if together:
        transaction.on_commit(lambda: send_channels(together))


def send_channels(items: list[tuple[int, Any]], countdown: float | None = None) -> None:
    """Hand channels (pk, requester_id) to Celery in tasks of up to ``BATCH_SIZE``, each on
    its queue (``_queue_for``'s rule, one query for all); inline without ``TASKS_ENABLED``."""
    channels = dict(items)  # the same channel enqueued twice is driven once
    size = max(1, int(dm_bridge_settings.BATCH_SIZE))
    if not dm_bridge_settings.TASKS_ENABLED:
        if countdown is None:
            from .batches import drive_channels

            pks = list(channels)
            for start in range(0, len(pks), size):
                drive_channels(pks[start : start + size])
        return  # inline mode: delayed retries are left to the sweeper / an admin
    from ... import tasks

    by_queue: dict[str | None, list[int]] = {}
    try:
        backlogged = _backlogged(set(channels.values()) - {None})
        for pk, requester_id in channels.items():
            queue = dm_bridge_settings.BACKLOG_QUEUE if requester_id in backlogged else None
            by_queue.setdefault(queue, []).append(pk)
        for queue, pks in by_queue.items():
            options: dict[str, Any] = {"countdown": countdown}
            if queue:
                options["queue"] = queue
            for start in range(0, len(pks), size):
                tasks.drive_channels.apply_async((pks[start : start + size],), **options)
    except Exception:  # the broker being down must never fail the caller
        logger.warning(
            "could not enqueue %d channels; the sweeper will pick them up",
            len(channels),
            exc_info=True,
        )


def _backlogged(requester_ids: set[Any]) -> set[Any]:
    """Those of ``requester_ids`` with more than ``BACKLOG_THRESHOLD`` channels waiting to be
    created (their channels go to ``BACKLOG_QUEUE``): one query for all of them."""
    threshold = int(dm_bridge_settings.BACKLOG_THRESHOLD)
    if not dm_bridge_settings.BACKLOG_QUEUE or not threshold or not requester_ids:
        return set()
    waiting = (
        DmChannel.objects.filter(requester_id__in=requester_ids, status=DmChannel.Status.PENDING)
        .values("requester_id")
        .annotate(waiting=Count("pk"))
        .filter(waiting__gt=threshold)
    )
    return set(waiting.values_list("requester_id", flat=True))


def enqueue_user_link(pk: int) -> None:
    transaction.on_commit(lambda: send_task("drive_user_link", pk))


UNKNOWN: Any = object()  # ``send_task``'s requester when the caller does not know it


def send_task(
    name: str, pk: int, countdown: float | None = None, *, requester_id: Any = UNKNOWN
) -> None:
    """Hand work to Celery; if the broker is down, the sweeper finds the row later.

    ``requester_id`` (a channel's, None for none) spares the queue choice a query."""
    if not dm_bridge_settings.TASKS_ENABLED:
        if countdown is None:
            # Imported here: the workers' modules schedule through this one.
            from ...webhooks import apply_stored_event
            from ..identities import drive_user_link
            from .converge import drive_channel

            work = {
                "drive_channel": drive_channel,
                "drive_user_link": drive_user_link,
                "apply_webhook_event": apply_stored_event,
            }
            work[name](pk)
        return  # inline mode: delayed retries are left to the sweeper / an admin
    from ... import tasks

    try:
        queue = _queue_for(name, pk, requester_id)
        options = {"queue": queue} if queue else {}
        getattr(tasks, name).apply_async((pk,), countdown=countdown, **options)
    except Exception:  # the broker being down must never fail the caller
        logger.warning(
            "could not enqueue %s(%s); the sweeper will pick it up", name, pk, exc_info=True
        )


def _queue_for(name: str, pk: int, requester_id: Any = UNKNOWN) -> str | None:
    """BACKLOG_QUEUE for bulk provisioning and for a requester's channels beyond
    BACKLOG_THRESHOLD waiting to be created; None (the host's Celery routing) otherwise.

    Workers take from their queues in turn, so a flood there waits while everyone else's
    work keeps flowing through the default queue.
    """
    if name == "apply_webhook_event":
        return None  # incoming messages never wait behind a provisioning backlog
    queue = dm_bridge_settings.BACKLOG_QUEUE
    threshold = int(dm_bridge_settings.BACKLOG_THRESHOLD)
    if not queue or name == "drive_user_link":
        return queue or None
    if not threshold:
        return None
    if requester_id is None:
        return None  # a channel nobody requested has no requester to be held back
    requester: Any = requester_id
    if requester_id is UNKNOWN:
        requester = Subquery(DmChannel.objects.filter(pk=pk).values("requester_id")[:1])
    waiting = DmChannel.objects.filter(
        requester_id=requester, status=DmChannel.Status.PENDING
    ).count()
    return queue if waiting > threshold else None


def send_on_commit(signal: Any, sender: type, **kwargs: Any) -> None:
    transaction.on_commit(lambda: signal.send(sender=sender, **kwargs))
