"""Retrying while Whop is unavailable (RETRY_HORIZON), reviving failed rows on a new request,
and the work queue's fairness between requesters. Work runs inline against the emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dm_bridge import services, tasks
from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage
from dm_bridge.services.engine.retry_policy import retry_delay
from dm_bridge.whop import WhopServerError

pytestmark = pytest.mark.django_db(transaction=True)


def due_now(channel: DmChannel, **changes: Any) -> None:
    DmChannel.objects.filter(pk=channel.pk).update(next_attempt_at=timezone.now(), **changes)


def test_whop_unavailable_is_retried_past_max_attempts_and_the_streak_is_shown(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=503)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    started = channel.waiting_since
    assert channel.status == DmChannel.Status.PENDING and started is not None
    # What happened, not a promise that contradicts a later "failed".
    assert channel.last_error.startswith("Whop had a server error (503: ")
    assert "retry" not in channel.last_error and "Gave up" not in channel.last_error

    due_now(channel, failures=100)  # far past MAX_ATTEMPTS (8), well inside the 48 h horizon
    assert services.drive_channel(channel.pk) == "retrying"
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.PENDING
    assert (channel.failures, channel.waiting_since) == (101, started)  # same streak

    whop.clear_faults()
    due_now(channel)
    assert services.drive_channel(channel.pk) == "done"
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE
    assert (channel.failures, channel.waiting_since, channel.last_error) == (0, None, "")


def test_a_streak_older_than_the_horizon_fails_with_its_reason(whop, make_user, settings):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "RETRY_HORIZON": 3600}
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=503)
    channel = services.open_dm("k", [a, b])
    due_now(channel, waiting_since=timezone.now() - timedelta(hours=1, seconds=1))
    assert services.drive_channel(channel.pk) == "failed"
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED and channel.next_attempt_at is None
    assert channel.last_error.startswith("Gave up: Whop has been failing for it since ")
    assert "longer than DM_BRIDGE['RETRY_HORIZON'] (1 h). Last: Whop had a server error" in (
        channel.last_error
    )


def test_a_conflict_repeated_max_attempts_times_fails(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=409)
    channel = services.open_dm("k", [a, b])
    due_now(channel, failures=6)
    assert services.drive_channel(channel.pk) == "retrying"  # the 8th would be the cap
    due_now(channel)
    assert services.drive_channel(channel.pk) == "failed"
    channel.refresh_from_db()
    assert channel.last_error.startswith(
        "Gave up after Whop refused it 8 times in a row. Last: Whop reported a conflict"
    )


def test_backoff_stays_capped_however_long_the_streak(settings):
    settings.DM_BRIDGE = {"RETRY_BACKOFF_BASE": 2.0, "RETRY_BACKOFF_MAX": 600.0}
    delay = retry_delay(5_000, WhopServerError("down", status=503, retryable=True))
    assert 300 <= delay <= 600


def test_opening_a_failed_channel_again_tries_it_afresh(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED

    again = services.open_dm("k", [a, b])  # the buyer clicks again
    again.refresh_from_db()
    assert again.pk == channel.pk
    assert again.status == DmChannel.Status.ACTIVE and again.failures == 0
    assert [r["status"] for r in whop.requests("dm_channels.create")] == [403, 200]


def test_new_work_for_a_failed_channel_revives_it(whop, make_user):
    a, b, c = make_user(), make_user(), make_user()
    whop.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("k", [a, b])
    services.add_member(channel, c)
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE
    assert channel.members.filter(status=DmMember.Status.ACTIVE).count() == 3


def test_adding_a_failed_member_again_retries_the_add(whop, make_user):
    a, b, c = make_user(), make_user(), make_user()
    channel = services.open_dm("k", [a, b])
    whop.add_fault("dm_members.create", status=422, times=1)
    member = services.add_member(channel, c)
    member.refresh_from_db()
    assert member.status == DmMember.Status.FAILED
    services.add_member(channel, c)
    member.refresh_from_db()
    assert member.status == DmMember.Status.ACTIVE and member.whop_member_id


def test_posting_a_failed_message_again_retries_it(whop, make_user):
    a, b = make_user(), make_user()
    channel = services.open_dm("k", [a, b])
    whop.add_fault("messages.create", status=422, times=1)
    services.post_message(channel, "About: Lamp", dedupe_key="listing:1")
    message = DmOutboxMessage.objects.get(channel=channel, dedupe_key="listing:1")
    assert message.status == DmOutboxMessage.Status.FAILED
    services.post_message(channel, "About: Lamp", dedupe_key="listing:1")
    message.refresh_from_db()
    assert message.status == DmOutboxMessage.Status.SENT
    assert [r["status"] for r in whop.requests("messages.create")] == [422, 200]


@pytest.fixture
def sent(settings, monkeypatch) -> list[tuple[str, int, str | None]]:
    """Tasks enabled, but recorded (name, primary key, queue) instead of reaching a broker."""
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TASKS_ENABLED": True}
    calls: list[tuple[str, int, str | None]] = []
    for name in ("drive_channel", "drive_user_link"):
        task = getattr(tasks, name)
        monkeypatch.setattr(
            task,
            "apply_async",
            lambda args, n=name, **options: calls.append((n, args[0], options.get("queue"))),
        )
    return calls


def test_a_requesters_flood_waits_on_the_backlog_queue(sent, make_user):
    spammer, honest, *shops = (make_user() for _ in range(7))
    flood = [services.open_dm(f"shop:{s.pk}/buyer:{spammer.pk}", [spammer, s]) for s in shops[:5]]
    mine = services.open_dm("shop:x/buyer:honest", [honest, shops[0]])
    explicit = services.open_dm("made:by/script", [shops[1], shops[2]], requester=spammer)

    assert {c.requester_id for c in flood} == {spammer.pk} and mine.requester_id == honest.pk
    queues = {pk: queue for _, pk, queue in sent}
    assert [queues[c.pk] for c in flood] == [
        None,
        None,
        None,
        "dm_bridge_backlog",
        "dm_bridge_backlog",
    ]
    assert queues[mine.pk] is None  # Celery's default queue: not behind the flood
    assert queues[explicit.pk] == "dm_bridge_backlog"


def test_bulk_provisioning_goes_to_the_backlog_queue_and_fairness_can_be_off(
    sent, make_user, settings
):
    users = [make_user() for _ in range(2)]
    services.enqueue_user_sync(users)
    assert {queue for name, _, queue in sent if name == "drive_user_link"} == {"dm_bridge_backlog"}

    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "BACKLOG_THRESHOLD": 0}
    spammer, *shops = (make_user() for _ in range(6))
    for shop in shops:
        services.open_dm(f"shop:{shop.pk}", [spammer, shop])
    assert {queue for name, _, queue in sent if name == "drive_channel"} == {None}


def test_the_sweeper_is_sent_to_its_own_queue(settings, monkeypatch):
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.sweep.app, "send_task", lambda *a, **options: seen.append(options))
    tasks.sweep.apply_async()
    settings.DM_BRIDGE = {"SWEEP_QUEUE": ""}
    tasks.sweep.apply_async()
    assert [options.get("queue") for options in seen] == ["dm_bridge_sweep", None]
