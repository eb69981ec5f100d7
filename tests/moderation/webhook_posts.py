"""Signed ``chat.message.created`` posts to the receiver, the way Whop sends them (shared by the
contact-detection and response-time tests)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import standardwebhooks
from django.urls import reverse

SECRET = "ws_test_moderation_secret"


def deliver_message(
    client: Any, channel: Any, author: Any, content: str, at: datetime | None = None
) -> str:
    """Post one signed message event by ``author`` (a user, or None for the app) in
    ``channel``'s Whop DM; returns the Whop message ID."""
    at = at or datetime.now(UTC)
    stamp = at.isoformat().replace("+00:00", "Z")
    message_id = f"post_{uuid.uuid4().hex[:12]}"
    author_id = author.whop_link.whop_user_id if author is not None else "user_app"
    body = json.dumps(
        {
            "id": f"msg_{uuid.uuid4().hex}",
            "api_version": "v1",
            "api_version_date": "2026-10-15-1",
            "timestamp": datetime.now(UTC).isoformat(),
            "type": "chat.message.created",
            "account_id": "biz_x",
            "data": {
                "reason": "message_created",
                "audience": {"type": "channel"},
                "channel": {"id": channel.whop_channel_id, "type": "direct_message"},
                "message": {
                    "id": message_id,
                    "content": content,
                    "created_at": stamp,
                    "updated_at": stamp,
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
                },
            },
        }
    )
    webhook_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signer = standardwebhooks.Webhook(base64.b64encode(SECRET.encode()).decode())
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(webhook_id, now, body),
    }
    response = client.post(
        reverse("dm_bridge:webhook"), data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200, response.content
    return message_id
