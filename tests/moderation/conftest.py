"""Moderation fixtures: the marketplace's adapters against the emulator (work inline), a shop
with an owner and a staff member, a listing, buyers, and posting as a user with their own
Whop token (as their chat element does)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from dm_bridge.models import DmChannel, WhopUserLink
from dm_bridge.testing import DEFAULT_API_KEY
from marketplace import services
from marketplace.models import Listing, Shop, ShopStaff
from tests.whop_users import post_as_member

URL = "http://testserver/listings/{}/"


@pytest.fixture
def whop(whop, settings):
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "USER_ADAPTER": "marketplace.dm_adapter.MarketplaceUserAdapter",
        "POLICY": "marketplace.dm_policy.MarketplacePolicy",
        "MODERATION_ADAPTER": "marketplace.moderation.MarketplaceModerationAdapter",
    }
    return whop


@pytest.fixture
def shop(make_user):
    shop = Shop.objects.create(name="Bob's Bikes", owner=make_user("bob"))
    ShopStaff.objects.create(shop=shop, user=make_user("carol"))
    return shop


@pytest.fixture
def listing(shop):
    return Listing.objects.create(shop=shop, title="Red bike", price=Decimal("120.00"))


@pytest.fixture
def buyer(make_user):
    return make_user("erin")


@pytest.fixture
def open_conversation(whop, listing):
    """open_conversation(buyer) → the buyer's conversation with the listing's shop, active."""

    def open_(buyer):
        conversation = services.message_seller(buyer, listing, URL.format(listing.pk))
        conversation.channel.refresh_from_db()
        assert conversation.channel.status == DmChannel.Status.ACTIVE
        return conversation

    return open_


@pytest.fixture
def whop_members(emulator):
    """whop_members(channel) → the Whop user IDs in it, read from the emulator over HTTP."""

    def read(channel) -> set[str]:
        channel.refresh_from_db()
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        with httpx.Client(base_url=emulator.api_url, headers=headers, timeout=5) as http:
            params = {"channel_id": channel.whop_channel_id, "first": 100}
            page = http.get("/dm_members", params=params).raise_for_status().json()
        return {m["user_id"] for m in page["data"]}

    return read


@pytest.fixture
def whop_ids():
    def ids(*users) -> set[str]:
        return set(
            WhopUserLink.objects.filter(user__in=users).values_list("whop_user_id", flat=True)
        )

    return ids


@pytest.fixture
def post_as(emulator):
    """post_as(user, channel, text) → the Whop message ID, posted with the user's own token
    (the way their chat element posts); raises for a refusal (e.g. not a member)."""

    def post(user, channel, text: str) -> str:
        return post_as_member(emulator, user, channel, text)

    return post
