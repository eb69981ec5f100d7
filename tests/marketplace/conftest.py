"""Marketplace fixtures: a shop with an owner, staff and listings; a buyer."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from dm_bridge.models import WhopUserLink
from dm_bridge.testing import DEFAULT_API_KEY
from marketplace.models import Listing, Shop, ShopStaff


@pytest.fixture
def whop(whop, settings):
    """The emulator-backed dm_bridge with the marketplace's adapter and policy (``whop``
    replaces DM_BRIDGE wholesale): shops' identities are provisioned under the shop's name."""
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "USER_ADAPTER": "marketplace.dm_adapter.MarketplaceUserAdapter",
        "POLICY": "marketplace.dm_policy.MarketplacePolicy",
    }
    return whop


@pytest.fixture
def shop(make_user):
    owner = make_user("owner")
    shop = Shop.objects.create(name="Bob's Bikes", owner=owner, description="Bikes.")
    ShopStaff.objects.create(shop=shop, user=make_user("staff1"))
    return shop


@pytest.fixture
def listings(shop):
    return [
        Listing.objects.create(shop=shop, title=f"Bike {n}", price=Decimal("100.00") + n)
        for n in range(1, 4)
    ]


@pytest.fixture
def buyer(make_user):
    return make_user("buyer")


@pytest.fixture
def whop_members(emulator):
    """whop_members(channel) → the Whop user IDs in it, read from the emulator over HTTP."""

    def read(channel) -> set[str]:
        channel.refresh_from_db()  # the Whop ID is written by the (inline) worker step
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        with httpx.Client(base_url=emulator.api_url, headers=headers, timeout=5) as http:
            params = {"channel_id": channel.whop_channel_id, "first": 100}
            page = http.get("/dm_members", params=params).raise_for_status().json()
        assert not page["page_info"]["has_next_page"]
        return {m["user_id"] for m in page["data"]}

    return read


@pytest.fixture
def whop_ids():
    """whop_ids(*users) → their Whop user IDs."""

    def ids(*users) -> set[str]:
        links = WhopUserLink.objects.filter(user__in=users)
        return set(links.values_list("whop_user_id", flat=True))

    return ids
