"""The emulator's real outbound webhooks, verified and parsed with the SDK's own helpers."""

from __future__ import annotations

import time

import pytest
from sdk_conformance import ACCOUNT, assert_conforms
from whop_sdk.lib.verify_webhook import WebhookVerificationError, unwrap
from whop_sdk.messages.types import PostChatMessageCreatedPayload
from whop_sdk.reactions.types import PostChatReactionCreatedPayload

from dm_bridge.testing import WebhookReceiver

SECRET = "ws_conformance_secret"


@pytest.fixture
def receiver(emulator):
    with WebhookReceiver() as endpoint:
        emulator.add_webhook(endpoint.url, SECRET)
        yield endpoint


def test_chat_message_created(sdk, user_sdk, people, receiver, recorder):
    as_alice = user_sdk(people["alice"]["id"])
    channel = as_alice.dm_channels.create(with_user_ids=[people["bob"]["id"]])
    message = as_alice.messages.create(channel_id=channel.id, content="webhook me")
    ((headers, body, _),) = receiver.wait_for(1)

    event = unwrap(body, headers=headers, key=SECRET)
    payload = assert_conforms(PostChatMessageCreatedPayload, event)
    assert isinstance(payload, PostChatMessageCreatedPayload)
    assert (payload.type, payload.api_version, payload.api_version_date) == (
        "chat.message.created",
        "v1",
        "2026-10-15-1",
    )
    assert payload.id == headers["webhook-id"] and payload.account_id == ACCOUNT
    assert payload.data.channel.id == channel.id
    assert payload.data.channel.type == "direct_message"
    assert payload.data.reason == "message_created"
    assert payload.data.audience.type == "channel"
    # The message exactly as GET /messages/{id} returns it: no channel_id.
    sdk.messages.retrieve(message.id)
    assert event["data"]["message"] == recorder.last("GET", f"/messages/{message.id}")
    assert "channel_id" not in event["data"]["message"]
    with pytest.raises(WebhookVerificationError):
        unwrap(body.replace(b"webhook me", b"webhook it"), headers=headers, key=SECRET)
    with pytest.raises(WebhookVerificationError):
        unwrap(body, headers=headers, key="ws_some_other_secret")


def test_chat_reaction_created(sdk, user_sdk, people, receiver, recorder):
    as_alice, as_bob = user_sdk(people["alice"]["id"]), user_sdk(people["bob"]["id"])
    channel = as_alice.dm_channels.create(with_user_ids=[people["bob"]["id"]])
    message = as_alice.messages.create(channel_id=channel.id, content="react")
    reaction = as_bob.reactions.create(resource_id=message.id, emoji=":tada:")
    as_bob.reactions.create(resource_id=message.id, emoji=":tada:")  # a repeat: no 2nd event
    deliveries = receiver.wait_for(2)
    # Webhooks are unordered (several delivery threads, as at Whop): sort them by type.
    events = sorted(
        (unwrap(body, headers=headers, key=SECRET) for headers, body, _ in deliveries),
        key=lambda event: event["type"] != "chat.message.created",
    )
    assert [e["type"] for e in events] == ["chat.message.created", "chat.reaction.created"]
    payload = assert_conforms(PostChatReactionCreatedPayload, events[1])
    assert isinstance(payload, PostChatReactionCreatedPayload)
    assert payload.data.reaction == reaction
    assert payload.data.reason == "reaction_created"
    assert payload.data.channel.id == channel.id and payload.account_id == ACCOUNT
    sdk.messages.retrieve(message.id)
    assert events[1]["data"]["message"] == recorder.last("GET", f"/messages/{message.id}")
    assert events[1]["data"]["message"]["reaction_counts"] == [{"emoji": ":tada:", "count": 1}]
    time.sleep(0.3)  # give a (wrong) event for the repeated reaction time to arrive
    assert len(receiver.received) == 2
