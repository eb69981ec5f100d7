"""Acting as a Whop user from a test: what the chat element does in a member's browser."""

from __future__ import annotations

from typing import Any

import httpx
from whop_sdk import Whop
from whop_sdk.environment import WhopEnvironment
from whop_sdk.types import Message

from dm_bridge import gateway
from dm_bridge.models import DmChannel
from dm_bridge.testing import DEFAULT_COMPANY_ID


def user_sdk(api_url: str, whop_user_id: str, scopes: list[str] | None = None) -> Whop:
    """The official SDK authenticated as ``whop_user_id`` (a token minted with the API key)."""
    token = gateway.get_client().access_tokens.create(
        user_id=whop_user_id,
        account_id=DEFAULT_COMPANY_ID,
        scoped_actions=scopes or ["dms:read", "dms:message:manage"],
    )
    return Whop(
        environment=WhopEnvironment(api=api_url, vault=api_url), token=token.token, max_retries=0
    )


def post_as(api_url: str, whop_user_id: str, channel_id: str, content: str) -> Message:
    """``whop_user_id`` writes in the DM from somewhere else (their own token, straight to Whop)."""
    return user_sdk(api_url, whop_user_id).messages.create(channel_id=channel_id, content=content)


def post_as_member(emulator: Any, user: Any, channel: DmChannel, text: str) -> str:
    """Post ``text`` into ``channel`` over HTTP with the user's own Whop token, the way their
    chat element posts; the message's ID. Raises for a refusal (e.g. not a member)."""
    channel.refresh_from_db()
    token = emulator.mint_token(
        user.whop_link.whop_user_id, scoped_actions=["dms:read", "dms:message:manage"]
    )
    answer = httpx.post(
        f"{emulator.api_url}/messages",
        json={"channel_id": channel.whop_channel_id, "content": text},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    return str(answer.raise_for_status().json()["id"])
