"""The constant parts of Whop's JSON shapes for API version 2026-10-15-1 (SDK ``whop-sdk`` 2.6).

The SDK's pydantic models (``whop_sdk.types.User``, ``Account``, …) make many fields required
that the emulator has no state for (balances, tax settings, store page…). They are filled here
with empty/neutral values so that every answer validates field for field; the row-specific
fields are added by the builders in :mod:`dm_bridge.emulator.store`.
"""

from __future__ import annotations

import copy
from typing import Any

API_VERSION_DATE = "2026-10-15-1"

# A generated avatar per user, like Whop's placeholder: the URL is always present. The host is
# a reserved ``.test`` name: nothing is served there (the emulator has no images).
PLACEHOLDER_AVATAR = "https://avatars.whop-emulator.test/{user_id}.png"

# User fields the emulator does not model; ``email``, ``total_usd`` are self-view only.
_USER_DEFAULTS: dict[str, Any] = {
    "balances": [],
    "social_links": [],
    "verification": {"individual": None, "business": None},
    "banner": None,
    "email": None,
    "total_usd": None,
}

# Account fields the emulator does not model (required ones get empty/false values).
_ACCOUNT_DEFAULTS: dict[str, Any] = {
    "balances": [],
    "banner_image_url": None,
    "business_type": None,
    "can_transfer_pending_balance_to_children": False,
    "collect_vat_id": False,
    "company_formation": {},
    "country": None,
    "description": None,
    "dispute_fighter_enabled": False,
    "economic_intelligence": False,
    "home_preferences": [],
    "logo_url": None,
    "orchestration_enabled": False,
    "platform_credits": [],
    "require_2fa": False,
    "show_joined_whops": False,
    "show_reviews_dtc": False,
    "show_user_directory": False,
    "social_links": [],
    "status": "active",
    "store_page_config": {"whop_affiliate_link": False},
    "tax_collection_enabled_states": [],
    "tax_identifiers": [],
    "use_logo_as_opengraph_image_fallback": False,
    "verification": {"individual": None, "business": None},
    "website": None,
}


def user_defaults() -> dict[str, Any]:
    return copy.deepcopy(_USER_DEFAULTS)


def account_defaults() -> dict[str, Any]:
    return copy.deepcopy(_ACCOUNT_DEFAULTS)


def avatar_url(user_id: str, picture: str | None) -> str:
    return picture or PLACEHOLDER_AVATAR.format(user_id=user_id)
