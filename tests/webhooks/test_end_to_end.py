"""The emulator's own signed webhooks reach the receiver over real HTTP (live_server).

alice and bob get a DM through ``services.open_dm`` (work runs inline against the emulator),
alice posts with her own user token, and the emulator's delivery marks the message unread
for bob only.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from dm_bridge import services
from dm_bridge.models import DmChannel, DmMember, WebhookEvent
from tests.whop_users import post_as

from .conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the webhook to be processed")
        time.sleep(0.1)


def test_emulator_webhook_marks_the_message_unread_for_the_other_member(
    whop: Any, webhook_receiver_url: str, settings: Any, make_user: Any, received_messages: list
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": SECRET}
    whop.add_webhook(webhook_receiver_url, SECRET)
    alice, bob = make_user("alice"), make_user("bob")
    channel = services.open_dm("k1", [alice, bob])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE and channel.whop_channel_id.startswith("feed_")

    message = post_as(whop.api_url, alice.whop_link.whop_user_id, channel.whop_channel_id, "hi bob")

    def processed() -> bool:
        return WebhookEvent.objects.filter(
            event_type="chat.message.created", status=WebhookEvent.Status.PROCESSED
        ).exists()

    wait_for(lambda: processed() and DmMember.objects.get(user=bob).unread_count == 1)

    event = WebhookEvent.objects.get(event_type="chat.message.created")
    assert event.valid and event.whop_channel_id == channel.whop_channel_id
    assert event.webhook_id.startswith("msg_") and event.error == ""
    alice_member = DmMember.objects.get(user=alice)
    assert alice_member.unread_count == 0 and alice_member.last_read_at == message.created_at
    channel.refresh_from_db()
    assert channel.last_message_at == message.created_at
    [(_, kwargs)] = received_messages
    assert kwargs["channel"].pk == channel.pk and kwargs["message"].id == message.id

    deliveries = [d for d in whop.webhook_deliveries() if d["type"] == "chat.message.created"]
    assert [d["status_code"] for d in deliveries] == [200]
