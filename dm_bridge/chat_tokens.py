"""Chat tokens: short-lived Whop user tokens for the embedded elements, minted server-side.

The token is always for the signed-in user (the caller passes the user object, never an ID
from the request), for ``COMPANY_ID``, with the minimal ``TOKEN_SCOPES``, and lives at most an
hour. It is cached per user until ``TOKEN_REFRESH_MARGIN`` seconds before it expires, so page
loads and refreshes in many tabs cost one Whop call per user per lifetime.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .conf import dm_bridge_settings
from .exceptions import DmBridgeConfigurationError
from .gateway import get_client
from .models import WhopUserLink
from .services import ensure_whop_user

logger = logging.getLogger("dm_bridge")

MAX_LIFETIME = 3600  # seconds; Whop allows 3 h, an hour is plenty for a page session


@dataclass(frozen=True)
class ChatToken:
    token: str = field(repr=False)  # a credential: kept out of reprs and logs
    expires_at: datetime

    def as_json(self) -> dict[str, str]:
        return {"token": self.token, "expires_at": self.expires_at.isoformat()}


def mint_chat_token(user: Any) -> ChatToken:
    """A Whop access token for ``user`` (provisioned on Whop first if needed).

    Raises ``UserNotProvisionable`` (permanent), ``RowBusy`` / ``RateLimitDeferred`` / a
    retryable ``WhopError`` (try again shortly), or a permanent ``WhopError``.
    """
    company = dm_bridge_settings.COMPANY_ID
    if not company:
        raise DmBridgeConfigurationError("DM_BRIDGE['COMPANY_ID'] is not set.")
    scopes = [str(scope) for scope in dm_bridge_settings.TOKEN_SCOPES if scope]
    if not scopes:
        # Whop reads an empty or missing list as "every permission of the API key".
        raise DmBridgeConfigurationError("DM_BRIDGE['TOKEN_SCOPES'] must name at least one scope.")
    linked = WhopUserLink.objects.filter(user=user, status=WhopUserLink.Status.ACTIVE)
    whop_user_id = linked.values_list("whop_user_id", flat=True).first()
    if whop_user_id:
        cached = cache.get(_cache_key(user, whop_user_id, company, scopes))
        if cached:
            expires_at = parse_datetime(cached["expires_at"])
            if expires_at and expires_at - timezone.now() > _margin():
                return ChatToken(cached["token"], expires_at)

    link = ensure_whop_user(user)
    lifetime = max(1, min(int(dm_bridge_settings.TOKEN_LIFETIME), MAX_LIFETIME))
    asked = timezone.now() + timedelta(seconds=lifetime)
    minted = get_client().access_tokens.create(
        user_id=link.whop_user_id, account_id=company, scoped_actions=scopes, expires_at=asked
    )
    token = ChatToken(minted.token, minted.expires_at)
    ttl = (token.expires_at - timezone.now() - _margin()).total_seconds()
    if ttl >= 1 and link.whop_user_id:  # an active link always has its ID
        key = _cache_key(user, link.whop_user_id, company, scopes)
        cache.set(key, token.as_json(), timeout=int(ttl))
    logger.info(
        "chat token minted for user %s (%s), expires %s",
        user.pk,
        link.whop_user_id,
        token.expires_at.isoformat(),
    )
    return token


def _margin() -> timedelta:
    return timedelta(seconds=float(dm_bridge_settings.TOKEN_REFRESH_MARGIN))


def _cache_key(user: Any, whop_user_id: str, company: str, scopes: list[str]) -> str:
    # Everything a token depends on is in the key: a re-linked user, another Whop environment
    # (BASE_URL) or changed scopes never get a stale token.
    parts = [whop_user_id, company, dm_bridge_settings.BASE_URL, *sorted(scopes)]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    return f"dm_bridge:chat-token:{user.pk}:{digest}"
