"""``WEBHOOK_APPLY = "worker"`` end to end: the emulator's signed delivery reaches the receiver
over HTTP (live_server), which stores it and answers; a real Celery worker on Redis applies it."""

from __future__ import annotations

import pytest

from dm_bridge import services
from dm_bridge.models import DmChannel, DmMember, WebhookEvent, WhopUserLink
from tests.webhooks.conftest import SECRET
from tests.whop_users import post_as

from .conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


def test_a_worker_applies_what_the_receiver_stored_and_answered(
    celery_processes, settings, make_user, emulator, webhook_receiver_url
):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": SECRET, "WEBHOOK_APPLY": "worker"}
    celery_processes.env["DM_BRIDGE_WEBHOOK_APPLY"] = "worker"
    emulator.add_webhook(webhook_receiver_url, SECRET)
    alice, bob = make_user("alice"), make_user("bob")
    channel = services.open_dm("webhook-worker", [alice, bob])
    celery_processes.worker("w1")
    wait_until(
        lambda: DmChannel.objects.filter(pk=channel.pk, status="active").exists(),
        30,
        message="the DM to become active",
    )
    channel.refresh_from_db()

    alice_id = WhopUserLink.objects.get(user=alice).whop_user_id
    message = post_as(emulator.api_url, alice_id, channel.whop_channel_id, "hi bob")

    wait_until(
        lambda: DmMember.objects.get(channel=channel, user=bob).unread_count == 1,
        30,
        message="the worker to count bob's unread message",
    )
    event = WebhookEvent.objects.get(event_type="chat.message.created")
    assert (event.status, event.attempts, event.next_attempt_at) == ("processed", 1, None)
    alice_member = DmMember.objects.get(channel=channel, user=alice)
    assert alice_member.unread_count == 0 and alice_member.last_read_at == message.created_at
    deliveries = [d for d in emulator.webhook_deliveries() if d["type"] == "chat.message.created"]
    assert [d["status_code"] for d in deliveries] == [200]
    assert "dm_bridge.apply_webhook_event" in celery_processes.logs()
