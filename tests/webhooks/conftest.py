"""Fixtures for the webhook receiver: real Standard Webhooks signatures, a DM with two members.

Requests are signed the way Whop signs them (HMAC keyed with the ``ws_…`` secret's UTF-8
bytes), with ``standardwebhooks`` itself, and posted with Django's test client.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks
from django.urls import reverse

from dm_bridge import signals
from dm_bridge.models import DmChannel, DmMember, WhopUserLink

SECRET = "ws_test_current_secret"
OLD_SECRET = "ws_test_previous_secret"
WHOP_CHANNEL_ID = "feed_test_1"


def webhook_url() -> str:
    return reverse("dm_bridge:webhook")


def signature(body: str, msg_id: str, at: datetime, secret: str = SECRET) -> str:
    signer = standardwebhooks.Webhook(base64.b64encode(secret.encode()).decode())
    return signer.sign(msg_id, at, body)


def signed_headers(
    body: str, *, msg_id: str | None = None, at: datetime | None = None, secret: str = SECRET
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(body, msg_id, at, secret),
    }


def whop_message(
    *, author_id: str = "user_alice", created_at: datetime | None = None, content: str = "hi"
) -> dict[str, Any]:
    """A Message as Whop's SDK 2.6 models it (every required field; no ``channel_id``)."""
    at = (created_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return {
        "id": f"post_{uuid.uuid4().hex[:12]}",
        "content": content,
        "created_at": at,
        "updated_at": at,
        "is_edited": False,
        "is_pinned": False,
        "mentions": [],
        "mentions_everyone": False,
        "message_type": "regular",
        "poll": None,
        "poll_votes": [],
        "reaction_counts": [],
        "replying_to_message_id": None,
        "user": {"id": author_id, "name": author_id, "username": author_id},
        "view_count": None,
    }


def message_event(
    *,
    channel_id: str = WHOP_CHANNEL_ID,
    author_id: str = "user_alice",
    created_at: datetime | None = None,
    event_type: str = "chat.message.created",
    content: str = "hello bob",
    channel_type: str = "direct_message",
    audience: dict[str, Any] | None = None,
    **data: Any,
) -> str:
    """A signed-ready ``chat.message.created`` body in Whop's shape; ``data`` adds/overrides."""
    envelope = {
        "id": f"msg_{uuid.uuid4().hex}",
        "api_version": "v1",
        "api_version_date": "2026-10-15-1",
        "timestamp": datetime.now(UTC).isoformat(),
        "type": event_type,
        "account_id": "biz_x",
        "data": {
            "reason": "message_created",
            "audience": audience or {"type": "channel"},
            "channel": {"id": channel_id, "type": channel_type},
            "message": whop_message(author_id=author_id, created_at=created_at, content=content),
            **data,
        },
    }
    return json.dumps(envelope)


def reaction_event(
    *, channel_id: str = WHOP_CHANNEL_ID, at: datetime | None = None, author_id: str = "user_bob"
) -> str:
    """A ``chat.reaction.created`` body in Whop's shape (the envelope plus ``data.reaction``)."""
    body = json.loads(message_event(channel_id=channel_id, event_type="chat.reaction.created"))
    body["timestamp"] = (at or datetime.now(UTC)).isoformat()
    body["data"]["reaction"] = {
        "id": f"reac_{uuid.uuid4().hex[:8]}",
        "emoji": ":+1:",
        "resource_id": body["data"]["message"]["id"],
        "user": {"id": author_id, "username": author_id},
    }
    return json.dumps(body)


def deliver(client: Any, body: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    """POST ``body`` to the receiver, signed with SECRET unless ``headers`` are given."""
    headers = signed_headers(body) if headers is None else headers
    return client.post(
        webhook_url(), data=body, content_type="application/json", headers=headers, **extra
    )


@dataclass
class Dm:
    channel: DmChannel
    alice: Any
    bob: Any

    def member(self, user: Any, channel: DmChannel | None = None) -> DmMember:
        return DmMember.objects.get(channel=channel or self.channel, user=user)


def linked_user(make_user: Any, name: str) -> Any:
    user = make_user(name)
    WhopUserLink.objects.create(user=user, whop_user_id=f"user_{name}", status="active")
    return user


def active_channel(key: str, users: list[Any], whop_channel_id: str = WHOP_CHANNEL_ID) -> DmChannel:
    channel = DmChannel.objects.create(
        company_id="biz_x", key=key, whop_channel_id=whop_channel_id, status="active"
    )
    for user in users:
        DmMember.objects.create(channel=channel, user=user, status="active")
    return channel


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def webhook_secret(settings: Any) -> str:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": SECRET}
    return SECRET


@pytest.fixture
def dm(make_user: Any) -> Dm:
    """alice (user_alice) and bob (user_bob) in an active DM on WHOP_CHANNEL_ID."""
    alice = linked_user(make_user, "alice")
    bob = linked_user(make_user, "bob")
    return Dm(channel=active_channel("shop:1/buyer:2", [alice, bob]), alice=alice, bob=bob)


@pytest.fixture
def received_messages() -> Any:
    """Every dm_message_received the test causes, as (sender, kwargs)."""
    calls: list[tuple[Any, dict[str, Any]]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append((sender, kwargs))

    signals.dm_message_received.connect(receiver, weak=False)
    yield calls
    signals.dm_message_received.disconnect(receiver)
