"""The webhook receiver: real signatures in, exactly one effect out, the right status for Whop."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from whop_sdk import PostChatMessageCreatedPayload
from whop_sdk.types import Message

from dm_bridge import webhooks
from dm_bridge.models import DmChannel, DmMember, WebhookEvent

from .conftest import (
    OLD_SECRET,
    SECRET,
    WHOP_CHANNEL_ID,
    active_channel,
    deliver,
    linked_user,
    message_event,
    reaction_event,
    signature,
    signed_headers,
    webhook_url,
)

pytestmark = pytest.mark.django_db


def unread(dm: Any) -> tuple[int, int]:
    return dm.member(dm.alice).unread_count, dm.member(dm.bob).unread_count


def assert_no_effect(dm: Any) -> None:
    alice, bob = dm.member(dm.alice), dm.member(dm.bob)
    assert (alice.unread_count, bob.unread_count) == (0, 0)
    assert alice.last_read_at is None and bob.last_read_at is None
    dm.channel.refresh_from_db()
    assert dm.channel.last_message_at is None


# --- a valid delivery --------------------------------------------------------------------------


def test_valid_message_updates_unread_state_once_and_signals_after_commit(
    client: Client, dm: Any, received_messages: list, django_capture_on_commit_callbacks: Any
) -> None:
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    body = message_event(author_id="user_alice", created_at=sent_at)
    headers = signed_headers(body, msg_id="msg_valid_1")

    with django_capture_on_commit_callbacks() as callbacks:
        response = deliver(client, body, headers)
        assert received_messages == []  # not before commit

    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    alice, bob = dm.member(dm.alice), dm.member(dm.bob)
    assert bob.unread_count == 1 and bob.last_read_at is None
    assert alice.unread_count == 0 and alice.last_read_at == sent_at
    dm.channel.refresh_from_db()
    assert dm.channel.last_message_at == sent_at

    event = WebhookEvent.objects.get()
    assert event.webhook_id == "msg_valid_1"
    assert event.event_type == "chat.message.created"
    assert event.whop_channel_id == WHOP_CHANNEL_ID
    assert (event.status, event.valid, event.attempts, event.error) == ("processed", True, 1, "")
    assert event.processed_at is not None
    assert event.body == body
    assert set(event.headers) == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
    }

    assert len(callbacks) == 1
    for callback in callbacks:
        callback()
    [(sender, kwargs)] = received_messages
    assert sender is DmChannel
    assert kwargs["channel"].pk == dm.channel.pk
    sent = json.loads(body)["data"]
    assert isinstance(kwargs["message"], Message)  # the SDK's model, not a dict
    assert kwargs["message"].id == sent["message"]["id"]
    assert kwargs["message"].content == sent["message"]["content"]
    assert isinstance(kwargs["event"], PostChatMessageCreatedPayload)
    assert kwargs["event"].data.channel.id == WHOP_CHANNEL_ID


def test_stored_headers_never_include_cookies_or_credentials(client: Client, dm: Any) -> None:
    body = message_event()
    client.cookies["sessionid"] = "secret-session"
    headers = {**signed_headers(body), "authorization": "Bearer apik_x", "user-agent": "Whop"}
    assert deliver(client, body, headers).status_code == 200
    stored = WebhookEvent.objects.get().headers
    assert stored["user-agent"] == "Whop"
    assert "cookie" not in stored and "authorization" not in stored


def test_csrf_is_not_required_and_only_post_is_allowed(dm: Any) -> None:
    assert webhook_url() == "/dm/webhooks/whop/"
    client = Client(enforce_csrf_checks=True)
    assert deliver(client, message_event()).status_code == 200
    assert client.get(webhook_url()).status_code == 405


def test_message_from_someone_without_a_local_link_is_unread_for_everyone(
    client: Client, dm: Any
) -> None:
    assert deliver(client, message_event(author_id="user_bot")).status_code == 200
    assert unread(dm) == (1, 1)


def test_messages_accumulate_and_the_author_catches_up(client: Client, dm: Any) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    for offset in range(3):
        body = message_event(author_id="user_alice", created_at=start + timedelta(seconds=offset))
        assert deliver(client, body).status_code == 200
    assert unread(dm) == (0, 3)
    reply = message_event(author_id="user_bob", created_at=start + timedelta(seconds=10))
    assert deliver(client, reply).status_code == 200
    assert unread(dm) == (1, 0)
    assert dm.member(dm.bob).last_read_at == start + timedelta(seconds=10)


def test_an_older_message_does_not_count_for_a_member_who_read_past_it(
    client: Client, dm: Any
) -> None:
    now = timezone.now()
    DmMember.objects.filter(user=dm.bob).update(last_read_at=now)
    DmChannel.objects.filter(pk=dm.channel.pk).update(last_message_at=now)
    late = message_event(author_id="user_alice", created_at=now - timedelta(minutes=1))
    assert deliver(client, late).status_code == 200
    assert dm.member(dm.bob).unread_count == 0
    dm.channel.refresh_from_db()
    assert dm.channel.last_message_at == now  # never moves back


def test_every_local_channel_on_the_whop_dm_is_updated_except_deleted_ones(
    client: Client,
    dm: Any,
    make_user: Any,
    received_messages: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    carol = linked_user(make_user, "carol")
    second = active_channel("shop:1/buyer:2/listing:3", [dm.alice, dm.bob])
    gone = active_channel("old", [dm.bob])
    DmChannel.objects.filter(pk=gone.pk).update(status=DmChannel.Status.DELETED)
    DmMember.objects.create(channel=dm.channel, user=carol, status=DmMember.Status.REMOVED)

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(client, message_event(author_id="user_alice")).status_code == 200

    assert dm.member(dm.bob).unread_count == 1
    assert dm.member(dm.bob, second).unread_count == 1
    assert dm.member(dm.bob, gone).unread_count == 0
    assert dm.member(carol).unread_count == 0
    assert {kwargs["channel"].pk for _, kwargs in received_messages} == {dm.channel.pk, second.pk}


def test_unknown_channel_is_processed_without_effect(client: Client, dm: Any) -> None:
    response = deliver(client, message_event(channel_id="feed_nobody_knows"))
    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    event = WebhookEvent.objects.get()
    assert (event.status, event.error) == ("processed", "unknown channel")
    assert_no_effect(dm)


@pytest.mark.parametrize("event_type", ["payment.succeeded", "chat.message.updated"])
def test_other_event_types_are_stored_and_ignored(client: Client, dm: Any, event_type: str) -> None:
    response = deliver(client, message_event(event_type=event_type))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    event = WebhookEvent.objects.get()
    assert (event.status, event.event_type, event.valid) == ("ignored", event_type, True)
    assert_no_effect(dm)


# --- requests that are not Whop's -------------------------------------------------------------


def tampered(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return body.replace("hello bob", "hello eve"), headers


def wrong_secret(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return body, signed_headers(body, msg_id=headers["webhook-id"], secret="ws_not_ours")


def without(name: str) -> Any:
    def drop(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        return body, {k: v for k, v in headers.items() if k != name}

    return drop


def shifted(minutes: int) -> Any:
    def shift(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        at = datetime.now(UTC) + timedelta(minutes=minutes)
        return body, signed_headers(body, msg_id=headers["webhook-id"], at=at)

    return shift


def garbled_signature(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return body, {**headers, "webhook-signature": "v1,not-base64!!"}


FORGERIES = {
    "tampered body": tampered,
    "wrong secret": wrong_secret,
    "no webhook-id": without("webhook-id"),
    "no webhook-timestamp": without("webhook-timestamp"),
    "no webhook-signature": without("webhook-signature"),
    "timestamp 6 min ahead": shifted(6),
    "timestamp 6 min old": shifted(-6),
    "garbled signature": garbled_signature,
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_unverified_requests_are_rejected_stored_and_have_no_effect(
    client: Client,
    dm: Any,
    forge: Any,
    received_messages: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = message_event()
    body, headers = forge(body, signed_headers(body, msg_id="msg_forged"))

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, body, headers)

    assert response.status_code == 400
    assert response.json()["error"]
    assert_no_effect(dm)
    assert received_messages == []
    event = WebhookEvent.objects.get()
    assert (event.status, event.valid, event.webhook_id) == ("invalid", False, None)
    assert event.error == response.json()["error"]
    assert event.body == body[:512]  # a prefix that identifies it, not the whole body


def test_a_forged_request_cannot_block_the_real_delivery_with_its_id(
    client: Client, dm: Any
) -> None:
    body = message_event()
    real = signed_headers(body, msg_id="msg_shared")
    forged = signed_headers(body, msg_id="msg_shared", secret="ws_attacker")
    assert deliver(client, body, forged).status_code == 400
    assert deliver(client, body, forged).status_code == 400  # stored twice: no unique clash
    response = deliver(client, body, real)
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert unread(dm) == (0, 1)
    [rejected] = WebhookEvent.objects.filter(status="invalid")  # counted, not stored twice
    assert rejected.repeats == 2


def test_a_flood_of_unsigned_requests_stores_a_bounded_diagnosis(client: Client, dm: Any) -> None:
    body = json.dumps({"type": "chat.message.created", "padding": "x" * 60_000})
    for i in range(50):
        headers = {"webhook-id": f"msg_{i}", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
        extra = {f"webhook-junk-{n}": "y" * 400 for n in range(20)}
        assert deliver(client, body, {**headers, **extra}).status_code == 400
    [row] = WebhookEvent.objects.all()
    assert row.repeats == 50 and row.status == "invalid" and not row.valid
    assert len(row.body) <= 512
    assert set(row.headers) <= {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
    }


def test_rejected_rows_are_capped(client: Client, dm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "MAX_REJECTED_ROWS", 5)
    body = message_event()
    for i in range(12):  # each request with its own reason, so nothing is merged by reason
        monkeypatch.setattr(webhooks, "_verification_failure", lambda *a, i=i: f"reason {i}")
        assert deliver(client, body).status_code == 400
    rows = WebhookEvent.objects.filter(valid=False).order_by("received_at")
    assert [row.error for row in rows] == [f"reason {i}" for i in range(7, 12)]  # the newest 5


ESCAPED_NUL_DATA = r'{"type": "chat.message.created", "data": {"x": "a\u0000b"}}'
ESCAPED_NUL_TYPE = r'{"type": "chat.message.\u0000created", "data": {}}'


@pytest.mark.parametrize(
    "body",
    [ESCAPED_NUL_DATA, ESCAPED_NUL_TYPE, "raw \x00 bytes", "[" * 5000 + "]" * 5000],
    ids=["escaped NUL in data", "escaped NUL in type", "raw NUL", "deeply nested"],
)
def test_nul_bytes_and_deep_nesting_are_4xx_never_500(client: Client, dm: Any, body: str) -> None:
    signed = deliver(client, body)
    assert signed.status_code in (200, 422), signed.content  # verified: stored and answered
    assert WebhookEvent.objects.filter(valid=True).count() == 1
    unsigned = deliver(client, body, {"webhook-id": "msg_x", "webhook-signature": "v1,x"})
    assert unsigned.status_code == 400
    assert "\x00" not in WebhookEvent.objects.get(valid=False).body
    assert_no_effect(dm)


def test_a_nul_in_the_channel_id_is_malformed_not_a_crash(client: Client, dm: Any) -> None:
    response = deliver(client, message_event(channel_id="feed_\x00x"))
    assert response.status_code == 422
    assert "NUL" in response.json()["error"]
    assert_no_effect(dm)


def test_no_secret_configured_is_a_503_and_stores_nothing(
    client: Client, dm: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": ""}
    with caplog.at_level(logging.ERROR, logger="dm_bridge"):
        response = deliver(client, message_event())
    assert response.status_code == 503
    assert "WEBHOOK_SECRET" in caplog.text
    assert not WebhookEvent.objects.exists()
    assert_no_effect(dm)


def test_body_over_one_megabyte_is_413_before_anything_else(client: Client, dm: Any) -> None:
    body = json.dumps({"type": "chat.message.created", "padding": "x" * (1024 * 1024)})
    response = deliver(client, body)
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


# --- redeliveries, rotation ------------------------------------------------------------------


def test_a_replayed_webhook_id_is_a_duplicate_with_no_second_effect(
    client: Client, dm: Any, received_messages: list, django_capture_on_commit_callbacks: Any
) -> None:
    body = message_event(author_id="user_alice")
    headers = signed_headers(body, msg_id="msg_twice")
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(client, body, headers)
        replay = deliver(client, body, headers)
        # Whop's retry: same id and body, fresh timestamp and signature.
        retry = deliver(client, body, signed_headers(body, msg_id="msg_twice"))

    assert first.json() == {"status": "processed"}
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate"})
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
    assert unread(dm) == (0, 1)
    assert len(received_messages) == 1
    event = WebhookEvent.objects.get()
    assert event.attempts == 1


def test_an_ignored_event_is_also_deduplicated(client: Client, dm: Any) -> None:
    body = message_event(event_type="payment.succeeded")
    headers = signed_headers(body)
    assert deliver(client, body, headers).json() == {"status": "ignored"}
    assert deliver(client, body, headers).json() == {"status": "duplicate"}


@pytest.mark.parametrize("order", ["old first", "new first"])
def test_whop_rotating_its_secret_sends_two_signatures(client: Client, dm: Any, order: str) -> None:
    body = message_event()
    at = datetime.now(UTC)
    old = signature(body, "msg_rotating", at, OLD_SECRET)
    new = signature(body, "msg_rotating", at, SECRET)
    both = f"{old} {new}" if order == "old first" else f"{new} {old}"
    headers = {
        "webhook-id": "msg_rotating",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": both,
    }
    assert deliver(client, body, headers).status_code == 200
    assert unread(dm) == (0, 1)


def test_a_list_of_local_secrets_accepts_any_of_them(
    client: Client, dm: Any, settings: Any
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": [SECRET, OLD_SECRET]}
    for secret in (SECRET, OLD_SECRET):
        body = message_event()
        assert deliver(client, body, signed_headers(body, secret=secret)).status_code == 200
    body = message_event()
    assert deliver(client, body, signed_headers(body, secret="ws_other")).status_code == 400
    assert unread(dm) == (0, 2)


# --- processing failures ---------------------------------------------------------------------


def test_a_processing_error_is_a_500_then_the_redelivery_processes_it(
    client: Client,
    dm: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    received_messages: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def half_then_crash(payload: Any) -> str:
        webhooks.record_message(payload)  # its writes must roll back with the error
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(webhooks.EVENT_HANDLERS, "chat.message.created", half_then_crash)
    body = message_event(content="private words")
    with (
        caplog.at_level(logging.INFO, logger="dm_bridge"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        failed = deliver(client, body, signed_headers(body, msg_id="msg_flaky"))

    assert failed.status_code == 500
    assert "error" in failed.json()
    event = WebhookEvent.objects.get()
    assert (event.status, event.error, event.attempts) == (
        "failed",
        "RuntimeError: database hiccup",
        1,
    )
    assert_no_effect(dm)
    assert received_messages == []
    assert "msg_flaky" in caplog.text
    assert SECRET not in caplog.text and "private words" not in caplog.text

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        redelivered = deliver(client, body, signed_headers(body, msg_id="msg_flaky"))
    assert (redelivered.status_code, redelivered.json()) == (200, {"status": "processed"})
    event.refresh_from_db()
    assert (event.status, event.error, event.attempts) == ("processed", "", 2)
    assert unread(dm) == (0, 1)
    assert len(received_messages) == 1


def _without(path: str) -> str:
    """A message event in Whop's shape with one field (dotted path under ``data``) removed."""
    body = json.loads(message_event())
    *parents, last = path.split(".")
    node = body["data"]
    for part in parents:
        node = node[part]
    del node[last]
    return json.dumps(body)


@pytest.mark.parametrize(
    "body, says",
    [
        (
            json.dumps({"type": "chat.message.created", "data": {"channel_id": WHOP_CHANNEL_ID}}),
            "data.channel",
        ),
        (_without("channel.id"), "data.channel.id"),
        (_without("message.user"), "data.message.user"),
        (_without("message.created_at"), "data.message.created_at"),
        (json.dumps({"type": "chat.message.created", "data": "not an object"}), "data"),
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a JSON object"),
    ],
    ids=[
        "the old shape (data.channel_id)",
        "no channel id",
        "no author",
        "no created_at",
        "data not an object",
        "not JSON",
        "not an object",
    ],
)
def test_a_verified_event_that_lacks_what_we_need_is_invalid_and_a_4xx(
    client: Client, dm: Any, body: str, says: str
) -> None:
    response = deliver(client, body)
    assert response.status_code == 422  # Whop retrying cannot fix it, and it is not our crash
    assert says in response.json()["error"]
    event = WebhookEvent.objects.get()
    assert (event.status, event.valid) == ("invalid", True)
    assert says in event.error
    assert_no_effect(dm)
    # A redelivery of the same ID has no second effect and is not an error either.
    headers = signed_headers(body, msg_id=event.webhook_id)
    assert deliver(client, body, headers).json() == {"status": "duplicate"}


def test_unknown_fields_are_ignored(client: Client, dm: Any) -> None:
    body = json.loads(message_event(author_id="user_alice"))
    body["brand_new_field"] = {"x": 1}
    body["data"]["message"]["sparkles"] = True
    body["data"]["channel"]["experience_id"] = "exp_1"
    assert deliver(client, json.dumps(body)).json() == {"status": "processed"}
    assert unread(dm) == (0, 1)


@pytest.mark.parametrize("channel_type", ["chat", "support"])
def test_only_direct_message_channels_are_acted_on(
    client: Client, dm: Any, channel_type: str
) -> None:
    response = deliver(client, message_event(channel_type=channel_type))
    assert response.json() == {"status": "ignored"}
    assert WebhookEvent.objects.get().error == f"not a DM channel ({channel_type})"
    assert_no_effect(dm)


def test_an_audience_of_users_limits_who_gets_an_unread_message(
    client: Client, dm: Any, make_user: Any
) -> None:
    carol = linked_user(make_user, "carol")
    DmMember.objects.create(channel=dm.channel, user=carol, status="active")
    body = message_event(
        author_id="user_alice", audience={"type": "users", "user_ids": ["user_carol"]}
    )
    assert deliver(client, body).json() == {"status": "processed"}
    assert (dm.member(dm.bob).unread_count, dm.member(carol).unread_count) == (0, 1)
    assert dm.member(dm.alice).unread_count == 0


def test_a_reaction_is_activity_but_not_an_unread_message(client: Client, dm: Any) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    response = deliver(client, reaction_event(at=at))
    assert response.json() == {"status": "processed"}
    dm.channel.refresh_from_db()
    assert dm.channel.last_activity_at == at
    assert dm.channel.last_message_at is None
    assert unread(dm) == (0, 0)
    event = WebhookEvent.objects.get()
    assert (event.event_type, event.whop_channel_id) == ("chat.reaction.created", WHOP_CHANNEL_ID)


def test_a_message_moves_activity_too_and_never_backwards(client: Client, dm: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    deliver(client, message_event(created_at=now))
    deliver(client, reaction_event(at=now - timedelta(minutes=5)))  # late, older delivery
    dm.channel.refresh_from_db()
    assert dm.channel.last_activity_at == now == dm.channel.last_message_at


def test_process_event_reapplies_a_stored_event(client: Client, dm: Any) -> None:
    body = message_event(channel_id="feed_later")
    deliver(client, body)
    event = WebhookEvent.objects.get()
    assert event.error == "unknown channel"

    # The channel became known locally afterwards: reprocessing now applies the message.
    DmChannel.objects.filter(pk=dm.channel.pk).update(whop_channel_id="feed_later")
    webhooks.process_event(event)
    assert (event.status, event.error, event.attempts) == ("processed", "", 2)
    assert unread(dm) == (0, 1)


def test_process_event_refuses_unverified_events(dm: Any) -> None:
    event = WebhookEvent.objects.create(status="invalid", valid=False, body=message_event())
    with pytest.raises(ValueError, match="verified"):
        webhooks.process_event(event)
