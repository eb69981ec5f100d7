"""Driving many channels in one task: ``drive_channels``, what ``scheduling.bulk()`` hands over.

A campaign (a seller writing to 100 buyers) is many fresh channels at once. Driven one task
each, the bookkeeping around each Whop call (lease, attempt, activation, release: about ten
statements) costs several times the call itself. Here a worker takes the lease of the whole
batch in one statement, counts the attempts in one, makes the creates one after another
through the shared limiter, and stores Whop's answers in a few statements for all of them
(``converge.record_created``).

Only *fresh* channels take that path: pending, never sent, every member linked to Whop. The
rest of a batch, and the created channels with more to do (a member to sync, a message to
post), go through the one-channel path, ``converge.drive_claimed``, under the same lease.
The exactly-once rules are those of ``converge``: creates are get-or-create with one
``Idempotency-Key`` per member set, and attempts are counted before the calls go out.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from ...conf import dm_bridge_settings
from ...gateway import get_client
from ...models import DmChannel, DmMember, WhopUserLink
from ...ratelimit import RateLimitDeferred
from ...whop import WhopError
from .converge import (
    create_call,
    current_members,
    drive_claimed,
    finish_created,
    record_created,
)
from .leases import claim_many, count_attempt, is_due, release
from .retry_policy import record_whop_failure, retry_delay
from .scheduling import send_channels

logger = logging.getLogger("dm_bridge")


def drive_channels(pks: list[int]) -> dict[str, int]:
    """Converge the channels ``pks`` with Whop; returns how many ended how (``drive_channel``'s
    outcomes; ``busy`` counts channels another worker held or that no longer exist)."""
    pks = list(dict.fromkeys(pks))
    rows, token = claim_many(DmChannel, pks)
    outcomes: Counter[str] = Counter()
    if len(rows) < len(pks):
        outcomes["busy"] = len(pks) - len(rows)
    # The batch keeps well inside its lease: what is left after half of it goes back.
    deadline = time.monotonic() + float(dm_bridge_settings.LEASE_SECONDS) / 2
    members = current_members(rows)
    fresh = [c for c in rows if _is_fresh(c, members.get(c.pk, []))]
    others = [c for c in rows if c not in fresh]
    if fresh:
        others += _create_fresh(fresh, members, token, deadline, outcomes)
    for index, channel in enumerate(others):
        if time.monotonic() > deadline:
            _hand_back(others[index:], token, delay=0.0, counted=False)
            outcomes["deferred"] += len(others) - index
            break
        outcomes[drive_claimed(channel, token)] += 1
    return dict(outcomes)


def _is_fresh(channel: DmChannel, members: list[DmMember]) -> bool:
    """Waiting to be created, never sent (nothing to look up on Whop), every member linked."""
    return (
        is_due(channel)
        and channel.status == DmChannel.Status.PENDING
        and not channel.whop_channel_id
        and not channel.needs_reconcile
        and bool(members)
        and all(_has_whop_id(m) for m in members)
    )


def _has_whop_id(member: DmMember) -> bool:
    try:
        link = member.user.whop_link
    except WhopUserLink.DoesNotExist:
        return False
    return link.status == WhopUserLink.Status.ACTIVE and bool(link.whop_user_id)


# The channels created so far are stored at least this often, and after any call that had
# to wait for the limiter: a paced batch must not keep its first channels from their users
# until its last call.
STORE_EVERY = 0.1  # seconds


def _create_fresh(
    fresh: list[DmChannel],
    members: dict[int, list[DmMember]],
    token: str,
    deadline: float,
    outcomes: Counter[str],
) -> list[DmChannel]:
    """Create ``fresh`` on Whop; returns the created channels that have more to do."""
    # Every attempt is counted before its call goes out (``leases.count_attempt``), here all
    # at once; those that never went out are taken back by ``_hand_back``.
    DmChannel.objects.filter(pk__in=[c.pk for c in fresh]).update(
        attempts=F("attempts") + 1, needs_reconcile=True
    )
    client = get_client()
    created = _Created(token, timezone.now(), outcomes)
    todo, retried = list(fresh), set()
    for index, channel in enumerate(todo):  # a 429'd channel is appended once, for a retry
        if time.monotonic() > deadline:
            _hand_back(todo[index:], token, delay=0.0)
            outcomes["deferred"] += len(todo) - index
            break
        called = time.monotonic()
        try:
            result = create_call(client, channel, members[channel.pk])
        except RateLimitDeferred as exc:  # the window is full: the rest wait for it together
            _hand_back(todo[index:], token, delay=exc.retry_after)
            outcomes["deferred"] += len(todo) - index
            break
        except WhopError as exc:
            if exc.status == 429 and channel.pk not in retried:
                # The limiter has learnt from it (``WhopAdapter._send``): the retry is paced.
                retried.add(channel.pk)
                count_attempt(channel, intent=True)
                todo.append(channel)
                created.store()  # the next call waits for the limiter
                continue
            outcomes[record_whop_failure(channel, exc)] += 1
            release(channel, token)
            if exc.retryable:  # Whop is unavailable: the rest wait as a first retry would
                _hand_back(todo[index + 1 :], token, delay=retry_delay(1, exc))
                outcomes["deferred"] += len(todo) - index - 1
                break
            continue
        created.add(channel, members[channel.pk], result)
        if created.age() > STORE_EVERY or time.monotonic() - called > STORE_EVERY / 5:
            created.store()  # calls are being paced: storing costs less than waiting
    created.store()
    return created.more


class _Created:
    """Channels created on Whop and not stored yet; ``store`` writes them all at once."""

    def __init__(self, token: str, run_started: Any, outcomes: Counter[str]) -> None:
        self.token, self.run_started, self.outcomes = token, run_started, outcomes
        self.items: list[tuple[DmChannel, list[DmMember], Any]] = []
        self.since = 0.0
        self.more: list[DmChannel] = []  # stored, with more to do than the create

    def add(self, channel: DmChannel, members: list[DmMember], result: Any) -> None:
        if not self.items:
            self.since = time.monotonic()
        self.items.append((channel, members, result))

    def age(self) -> float:
        return time.monotonic() - self.since if self.items else 0.0

    def store(self) -> None:
        if not self.items:
            return
        record_created(self.items)
        channels = [channel for channel, _, _ in self.items]
        self.items = []
        # Those with more to do (or new work since the run began) go on to the one-channel path.
        finished, more = finish_created(channels, self.run_started, self.token)
        self.outcomes["done"] += finished
        self.more += [c for c in channels if c.pk in more]
        logger.info(
            "dm channels: %d created in one batch (%d with more to do)", len(channels), len(more)
        )


def _hand_back(
    channels: list[DmChannel], token: str, *, delay: float, counted: bool = True
) -> None:
    """Release ``channels`` and enqueue them again ``delay`` seconds from now; ``counted``: their
    attempt was counted in advance by ``_create_fresh`` and is taken back (no call went out)."""
    if not channels:
        return
    updates: dict[str, Any] = {
        "next_attempt_at": timezone.now() + timedelta(seconds=delay),
        "lease_until": None,
        "lease_token": "",
    }
    if counted:
        updates.update(attempts=F("attempts") - 1, needs_reconcile=False)
    DmChannel.objects.filter(pk__in=[c.pk for c in channels], lease_token=token).update(**updates)
    send_channels([(c.pk, c.requester_id) for c in channels], countdown=delay or None)
