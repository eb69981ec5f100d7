"""``services.bulk()`` and ``drive_channels``: a campaign's channels handed over together and
created in batches, against the emulator over real HTTP, with the exactly-once rules of the
one-channel path (tests/services/test_services.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dm_bridge import services, signals, tasks
from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage
from dm_bridge.services.engine.scheduling import send_channels

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seller(make_user: Any) -> Any:
    return make_user("seller")


@pytest.fixture
def buyers(make_user: Any) -> list[Any]:
    return [make_user(f"buyer{i}") for i in range(12)]


@pytest.fixture
def linked(whop: Any, seller: Any, buyers: list[Any]) -> None:
    """Every user already has a Whop identity: their channels are fresh creates."""
    for user in [seller, *buyers]:
        services.ensure_whop_user(user)


Sent = list[tuple[str, tuple[Any, ...], dict[str, Any]]]


@pytest.fixture
def handed(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Sent:
    """TASKS_ENABLED, with every channel task recorded instead of sent to a broker."""
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TASKS_ENABLED": True}
    sent: Sent = []
    for task in (tasks.drive_channel, tasks.drive_channels):

        def record(args: Any = (), name: str = task.name, **options: Any) -> None:
            sent.append((name, tuple(args or ()), options))

        monkeypatch.setattr(task, "apply_async", record)
    return sent


def open_campaign(seller: Any, buyers: list[Any]) -> list[DmChannel]:
    with transaction.atomic(), services.bulk():
        return [
            services.open_dm(f"shop:1/buyer:{b.pk}", [b, seller], requester=seller) for b in buyers
        ]


def creates(whop: Any) -> list[dict[str, Any]]:
    return whop.requests("dm_channels.create")


def test_a_campaign_is_created_once_per_channel_in_batches_inline(
    linked: None, whop: Any, seller: Any, buyers: list[Any], settings: Any
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "BATCH_SIZE": 5}
    ready: list[int] = []

    def on_ready(sender: Any, channel: DmChannel, **kwargs: Any) -> None:
        ready.append(channel.pk)

    signals.dm_channel_ready.connect(on_ready)
    try:
        channels = open_campaign(seller, buyers)
    finally:
        signals.dm_channel_ready.disconnect(on_ready)

    rows = DmChannel.objects.filter(pk__in=[c.pk for c in channels])
    assert set(rows.values_list("status", "attempts", "needs_reconcile", "lease_token")) == {
        ("active", 1, False, "")
    }
    assert rows.filter(next_attempt_at__isnull=True, activated_at__isnull=False).count() == 12
    assert len(set(rows.values_list("whop_channel_id", flat=True))) == 12
    assert len(creates(whop)) == 12  # one call per channel, none repeated
    assert set(DmMember.objects.values_list("status", flat=True)) == {"active"}
    assert sorted(ready) == sorted(c.pk for c in channels)


def test_bulk_hands_the_work_over_on_commit_in_tasks_of_batch_size(
    linked: None, handed: Sent, seller: Any, buyers: list[Any], settings: Any
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "BATCH_SIZE": 5, "BACKLOG_THRESHOLD": 0}
    with transaction.atomic(), services.bulk():
        channels = [services.open_dm(f"k:{b.pk}", [b, seller]) for b in buyers]
        assert handed == []  # nothing before the commit
    assert [name for name, _, _ in handed] == ["dm_bridge.drive_channels"] * 3
    batches = [args[0] for _, args, _ in handed]
    assert [len(b) for b in batches] == [5, 5, 2]
    assert sorted(pk for b in batches for pk in b) == sorted(c.pk for c in channels)


def test_a_bulk_rolled_back_hands_nothing_over(
    linked: None, handed: Sent, seller: Any, buyers: list[Any]
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic(), services.bulk():
        services.open_dm("k:1", [buyers[0], seller])
        raise RuntimeError("the host's request failed")
    assert handed == [] and not DmChannel.objects.exists()


def test_a_requesters_flood_goes_to_the_backlog_queue(
    linked: None, handed: Sent, seller: Any, buyers: list[Any], settings: Any
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "BACKLOG_THRESHOLD": 3, "BATCH_SIZE": 10}
    with transaction.atomic(), services.bulk():
        flood = [  # the seller asks for 12: beyond the threshold
            services.open_dm(f"k:{b.pk}", [b, seller], requester=seller) for b in buyers
        ]
        other = services.open_dm("k:other", [buyers[0], buyers[1]], requester=buyers[0])
    by_queue: dict[Any, list[int]] = {}
    for _, args, options in handed:
        by_queue.setdefault(options.get("queue"), []).extend(args[0])
    assert sorted(by_queue["dm_bridge_backlog"]) == sorted(c.pk for c in flood)
    assert by_queue[None] == [other.pk]


def test_handing_over_many_channels_asks_the_database_once(
    linked: None, handed: Sent, seller: Any, buyers: list[Any]
) -> None:
    channels = open_campaign(seller, buyers)
    handed.clear()
    with CaptureQueriesContext(connection) as queries:
        send_channels([(c.pk, c.requester_id) for c in channels])
    assert len(queries) == 1  # the requesters' waiting counts, for all of them at once
    assert sum(len(args[0]) for _, args, _ in handed) == 12


def test_a_batch_costs_the_same_statements_for_three_channels_or_ten(
    linked: None, whop: Any, handed: Sent, seller: Any, buyers: list[Any]
) -> None:
    channels = open_campaign(seller, buyers[:10])
    counts = []
    for part in (channels[:3], channels[3:10]):
        with CaptureQueriesContext(connection) as queries:
            outcome = services.drive_channels([c.pk for c in part])
        assert outcome == {"done": len(part)}
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 8, counts  # lease, attempts, creates stored (4), done


def test_a_429_mid_batch_is_retried_in_the_batch_after_the_limiter_learnt(
    linked: None, whop: Any, handed: Sent, seller: Any, buyers: list[Any]
) -> None:
    channels = open_campaign(seller, buyers[:4])
    handed.clear()
    whop.add_fault("dm_channels.create", status=429, times=1)
    assert services.drive_channels([c.pk for c in channels]) == {"done": 4}
    rows = DmChannel.objects.filter(pk__in=[c.pk for c in channels]).order_by("pk")
    assert [r.status for r in rows] == ["active"] * 4
    assert sorted(r.attempts for r in rows) == [1, 1, 1, 2]  # the 429'd one went out twice
    assert len(creates(whop)) == 5
    assert not [s for s in handed if s[0] == "dm_bridge.drive_channels"]  # nothing put off


def test_whop_unavailable_mid_batch_puts_the_rest_off_without_counting_their_attempt(
    linked: None, whop: Any, handed: Sent, seller: Any, buyers: list[Any]
) -> None:
    channels = open_campaign(seller, buyers[:4])
    handed.clear()
    whop.add_fault("dm_channels.create", status=503, times=1)
    outcome = services.drive_channels([c.pk for c in channels])
    assert outcome == {"retrying": 1, "deferred": 3}
    first, *rest = DmChannel.objects.filter(pk__in=[c.pk for c in channels]).order_by("pk")
    assert (first.status, first.attempts, first.failures) == ("pending", 1, 1)
    assert first.last_error and first.next_attempt_at > timezone.now()
    for row in rest:  # never sent: no attempt, no reconcile, released, due after the backoff
        assert (row.status, row.attempts, row.failures, row.needs_reconcile) == (
            "pending",
            0,
            0,
            False,
        )
        assert row.lease_token == "" and row.next_attempt_at > timezone.now()
    put_off = [s for s in handed if s[0] == "dm_bridge.drive_channels"]
    assert len(put_off) == 1 and sorted(put_off[0][1][0]) == sorted(r.pk for r in rest)
    assert put_off[0][2]["countdown"] > 0
    assert len(creates(whop)) == 1


def test_a_batch_leaves_busy_channels_alone_and_drives_the_others_their_own_way(
    linked: None, whop: Any, handed: Sent, seller: Any, buyers: list[Any]
) -> None:
    channels = open_campaign(seller, buyers[:3])
    busy, with_message, plain = channels
    DmChannel.objects.filter(pk=busy.pk).update(
        lease_token="someone", lease_until=timezone.now() + timedelta(seconds=60)
    )
    services.post_message(with_message, "Thanks for your order")
    services.drive_channels([c.pk for c in channels])
    busy.refresh_from_db()
    assert (busy.status, busy.attempts, busy.lease_token) == ("pending", 0, "someone")
    assert DmChannel.objects.get(pk=plain.pk).status == "active"
    # Created in the batch, then its message posted through the one-channel path.
    message = DmOutboxMessage.objects.get(channel=with_message)
    assert message.status == "sent" and message.whop_message_id
    assert DmChannel.objects.get(pk=with_message.pk).next_attempt_at is None
    assert len(creates(whop)) == 2


def test_a_channel_that_is_not_fresh_takes_the_one_channel_path(
    linked: None, whop: Any, handed: Sent, seller: Any, buyers: list[Any], make_user: Any
) -> None:
    active, fresh = open_campaign(seller, buyers[:2])
    services.drive_channels([active.pk])
    newcomer = make_user("newcomer")  # no Whop identity yet: provisioned by the worker
    services.add_member(DmChannel.objects.get(pk=active.pk), newcomer)
    assert services.drive_channels([active.pk, fresh.pk]) == {"done": 2}
    assert DmMember.objects.get(channel=active, user=newcomer).status == "active"
    assert DmChannel.objects.get(pk=fresh.pk).status == "active"
