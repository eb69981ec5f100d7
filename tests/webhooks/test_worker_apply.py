"""``WEBHOOK_APPLY = "worker"``: the receiver stores and answers, a worker applies.

The task hand-off is recorded here (``apply_async`` replaced by a recorder) and the worker's
function is called directly; tests/reliability/test_webhook_worker.py runs the same flow
through a real Celery worker on Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.test import Client
from django.utils import timezone

from dm_bridge import services, tasks, webhooks
from dm_bridge.models import WebhookEvent

from .conftest import deliver, message_event, reaction_event, signed_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_mode(settings: Any) -> None:
    """Worker mode without a shared Redis: every stored event publishes a drain task."""
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "WEBHOOK_APPLY": "worker",
        "TASKS_ENABLED": True,
        "REDIS_URL": "",
    }


Sent = list[tuple[str, tuple[Any, ...], dict[str, Any]]]


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every webhook task sent to the broker, as (task, args, options)."""
    sent: Sent = []
    for task in (tasks.apply_webhook_events, tasks.apply_webhook_event):

        def record(args: Any = (), name: str = task.name, **options: Any) -> None:
            sent.append((name, tuple(args or ()), options))

        monkeypatch.setattr(task, "apply_async", record)
    return sent


DRAIN = ("dm_bridge.apply_webhook_events", (), {})


def retry_of(event: WebhookEvent) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    return ("dm_bridge.apply_webhook_event", (event.pk,), {"countdown": None})


def unread(dm: Any) -> tuple[int, int]:
    return dm.member(dm.alice).unread_count, dm.member(dm.bob).unread_count


def test_the_receiver_stores_answers_and_hands_the_event_to_a_worker(
    worker_mode: None,
    handed: Sent,
    client: Client,
    dm: Any,
    received_messages: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    body = message_event(author_id="user_alice", created_at=sent_at)
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, body, signed_headers(body, msg_id="msg_w1"))

    assert (response.status_code, response.json()) == (200, {"status": "received"})
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.processed_at) == ("received", 0, None)
    assert event.next_attempt_at is not None and event.next_attempt_at > timezone.now()
    assert unread(dm) == (0, 0) and received_messages == []  # nothing applied yet
    assert handed == [DRAIN]

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.drain_received() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts, event.next_attempt_at) == ("processed", 1, None)
    assert unread(dm) == (0, 1)
    assert dm.member(dm.alice).last_read_at == sent_at
    assert len(received_messages) == 1

    # A task delivered twice (acks_late, the sweeper): the second run changes nothing.
    assert webhooks.drain_received() == 0
    assert webhooks.apply_stored_event(event.pk) == "done"
    assert unread(dm) == (0, 1) and len(received_messages) == 1


def test_a_redelivery_before_the_worker_ran_is_a_duplicate_with_no_second_task(
    worker_mode: None,
    handed: Sent,
    client: Client,
    dm: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = message_event()
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(client, body, signed_headers(body, msg_id="msg_twice"))
        again = deliver(client, body, signed_headers(body, msg_id="msg_twice"))
    assert first.json() == {"status": "received"}
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert WebhookEvent.objects.count() == 1 and handed == [DRAIN]


@pytest.mark.parametrize(
    ("body", "status_code", "stored"),
    [
        (message_event(channel_type="chat"), 200, "ignored"),
        (message_event(event_type="payment.succeeded"), 200, "ignored"),
        (message_event(message={"id": "post_1"}), 422, "invalid"),
        ("[1, 2]", 422, "invalid"),
    ],
    ids=["not-a-dm", "type-not-handled", "missing-fields", "not-an-object"],
)
def test_what_needs_no_database_is_decided_at_once_with_no_task(
    worker_mode: None,
    handed: Sent,
    client: Client,
    dm: Any,
    body: str,
    status_code: int,
    stored: str,
) -> None:
    response = deliver(client, body)
    assert response.status_code == status_code
    event = WebhookEvent.objects.get()
    assert (event.status, event.next_attempt_at) == (stored, None)
    assert event.processed_at is not None
    assert handed == [] and unread(dm) == (0, 0)


def test_a_failure_in_the_worker_is_retried_with_backoff_until_it_applies(
    worker_mode: None,
    handed: Sent,
    client: Client,
    dm: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = message_event()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, body, signed_headers(body, msg_id="msg_flaky_worker"))
    event = WebhookEvent.objects.get()

    def half_then_crash(payload: Any) -> str:
        webhooks.record_message(payload)  # rolled back with the error
        raise RuntimeError("database hiccup")

    with monkeypatch.context() as patched:
        patched.setitem(webhooks.EVENT_HANDLERS, "chat.message.created", half_then_crash)
        assert webhooks.drain_received() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (
        "failed",
        1,
        "RuntimeError: database hiccup",
    )
    assert event.next_attempt_at is not None and event.next_attempt_at > timezone.now()
    assert unread(dm) == (0, 0)
    name, args, options = handed[-1]
    assert (name, args) == retry_of(event)[:2] and options["countdown"] > 0
    assert webhooks.drain_received() == 0  # a failed event is the retry's, not the drain's

    # Not due yet: the sweeper leaves it; once due it hands it over again.
    handed.clear()
    assert services.sweep()["webhook_events"] == 0
    WebhookEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.sweep()["webhook_events"] == 1
    assert handed == [retry_of(event)]

    assert webhooks.apply_stored_event(event.pk) == "processed"
    event.refresh_from_db()
    assert (event.status, event.attempts, event.next_attempt_at) == ("processed", 2, None)
    assert unread(dm) == (0, 1)


def test_after_the_retry_horizon_a_failed_event_waits_for_an_admin(
    worker_mode: None,
    handed: Sent,
    settings: Any,
    client: Client,
    dm: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "RETRY_HORIZON": 60}
    body = message_event()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, body)
    event = WebhookEvent.objects.get()
    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(seconds=61)
    )
    monkeypatch.setitem(webhooks.EVENT_HANDLERS, "chat.message.created", _crash)
    handed.clear()
    assert webhooks.drain_received() == 1
    event.refresh_from_db()
    assert event.status == "failed" and event.next_attempt_at is None
    assert handed == [] and services.sweep()["webhook_events"] == 0


def test_whop_redelivering_a_failed_event_hands_it_to_a_worker_at_once(
    worker_mode: None,
    handed: Sent,
    client: Client,
    dm: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = reaction_event()
    headers = signed_headers(body, msg_id="msg_react_retry")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, body, headers)
    event = WebhookEvent.objects.get()
    with monkeypatch.context() as patched:
        patched.setitem(webhooks.EVENT_HANDLERS, "chat.reaction.created", _crash)
        webhooks.drain_received()
    handed.clear()

    with django_capture_on_commit_callbacks(execute=True):
        again = deliver(client, body, headers)
    assert again.json() == {"status": "duplicate"}
    assert handed == [retry_of(event)]


def test_a_lost_task_is_handed_over_again_by_the_sweeper(
    worker_mode: None,
    handed: Sent,
    client: Client,
    dm: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = message_event()
    deliver(client, body)  # its on-commit hand-off never runs: the task is "lost"
    event = WebhookEvent.objects.get()
    assert event.status == "received" and handed == []
    assert services.sweep()["webhook_events"] == 0  # within the grace: maybe just queued
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert services.sweep()["webhook_events"] == 1
    assert handed == [retry_of(event)]


def test_without_tasks_the_worker_setting_applies_in_the_request(
    settings: Any, handed: Sent, client: Client, dm: Any
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_APPLY": "worker", "TASKS_ENABLED": False}
    body = message_event()
    response = deliver(client, body)
    assert response.json() == {"status": "processed"}
    assert unread(dm) == (0, 1) and handed == []


def _crash(payload: Any) -> str:
    raise RuntimeError("still broken")


@pytest.mark.services
def test_with_a_shared_redis_a_burst_publishes_one_drain_until_it_starts(
    worker_mode: None,
    settings: Any,
    redis_url: str,
    request: pytest.FixtureRequest,
    handed: Sent,
    client: Client,
    dm: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "REDIS_URL": redis_url}
    flag = redis.Redis.from_url(redis_url)
    flag.delete(webhooks.DRAIN_SCHEDULED)
    request.addfinalizer(lambda: flag.delete(webhooks.DRAIN_SCHEDULED))
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            deliver(client, message_event())
    assert handed == [DRAIN]  # the 2nd and 3rd event are the queued drain's too

    assert webhooks.drain_received() == 3  # it clears the flag before it looks
    assert unread(dm) == (0, 3)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, message_event())
    assert handed == [DRAIN, DRAIN]


def test_a_drain_hands_on_to_a_fresh_task_after_its_batch(
    worker_mode: None, handed: Sent, client: Client, dm: Any
) -> None:
    for _ in range(3):
        deliver(client, message_event())  # no on-commit: nothing published
    assert webhooks.drain_received(limit=2) == 2
    assert handed == [DRAIN]
    assert webhooks.drain_received(limit=2) == 1
    assert unread(dm) == (0, 3)
