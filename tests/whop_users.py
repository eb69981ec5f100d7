"""Acting as a Whop user from a test: what the chat element does in a member's browser."""

from __future__ import annotations

from whop_sdk import Whop
from whop_sdk.environment import WhopEnvironment
from whop_sdk.types import Message

from dm_bridge import gateway
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
