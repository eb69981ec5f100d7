"""Issue 10, item 2: two shops of one owner never share a buyer's Whop DM.

Whop keeps one DM per member set. Each shop's DMs therefore also hold the shop's own identity,
so a staff change in one shop can neither grant nor revoke anything in another shop's
conversations. Checked on the emulator with the staff member's own Whop token.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from django.core.management import call_command
from django.test import Client

from dm_bridge import services as dm
from dm_bridge.models import DmChannel, DmMember
from dm_bridge.testing import DEFAULT_COMPANY_ID
from marketplace import services
from marketplace.dm_adapter import MarketplaceUserAdapter
from marketplace.models import Conversation, Listing, Shop

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://testserver/listings/{}/"


@pytest.fixture
def two_shops(make_user):
    owner = make_user("owner")
    shops = [Shop.objects.create(name=name, owner=owner) for name in ("Bikes", "Cameras")]
    listings = [Listing.objects.create(shop=s, title="Thing", price=Decimal(1)) for s in shops]
    return shops, listings


def join(shop, user):
    invitation = services.invite_staff(shop, shop.owner, user.username, lambda token: "")
    services.accept_invitation(invitation, user)


class WhopAs:
    """Whop's API with one user's own token (as their browser's chat element has it)."""

    def __init__(self, emulator, user):
        token = emulator.mint_token(
            user.whop_link.whop_user_id, scoped_actions=["dms:read", "dms:message:manage"]
        )
        self.http = httpx.Client(
            base_url=emulator.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )

    def channel_ids(self) -> set[str]:
        page = self.http.get(
            "/dm_channels", params={"account_id": DEFAULT_COMPANY_ID, "first": 100}
        )
        return {c["id"] for c in page.raise_for_status().json()["data"]}

    def read(self, channel: DmChannel) -> int:
        return self.http.get(
            "/messages", params={"channel_id": channel.whop_channel_id}
        ).status_code


def test_a_buyer_gets_one_whop_dm_per_shop_and_staff_changes_stay_in_their_shop(
    whop, two_shops, make_user, whop_members, whop_ids
):
    (bikes, cameras), listings = two_shops
    buyer = make_user("buyer")
    a, b = (services.message_seller(buyer, lst, URL.format(lst.pk)) for lst in listings)
    a.channel.refresh_from_db()
    b.channel.refresh_from_db()
    assert a.channel.whop_channel_id and b.channel.whop_channel_id
    assert a.channel.whop_channel_id != b.channel.whop_channel_id

    # Staff of Bikes read Bikes' DM with their own token, and nothing of Cameras'.
    carol = make_user("carol")
    join(bikes, carol)
    carol_on_whop = WhopAs(whop, carol)
    assert carol_on_whop.channel_ids() == {a.channel.whop_channel_id}
    assert carol_on_whop.read(a.channel) == 200
    assert carol_on_whop.read(b.channel) == 404

    # Someone on both teams who leaves one stays in the other, on Whop and locally.
    join(cameras, carol)
    services.remove_staff(bikes, carol)
    assert whop_members(a.channel) == whop_ids(buyer, bikes.identity, bikes.owner)
    assert whop_members(b.channel) == whop_ids(buyer, cameras.identity, cameras.owner, carol)
    assert DmMember.objects.get(channel=b.channel, user=carol).status == DmMember.Status.ACTIVE
    assert carol_on_whop.channel_ids() == {b.channel.whop_channel_id}


def test_the_command_gives_conversations_that_shared_a_whop_dm_their_own(
    whop, two_shops, make_user, whop_members, whop_ids
):
    (bikes, cameras), listings = two_shops
    buyer = make_user("buyer")
    # As before shops had identities: the same members in both shops' DMs.
    for shop in (bikes, cameras):
        channel = dm.open_dm(Conversation.key_for(shop, buyer), [buyer, shop.owner])
        Conversation.objects.create(buyer=buyer, shop=shop, channel=channel)
    old, other = (c.channel for c in Conversation.objects.order_by("pk"))
    old.refresh_from_db()
    other.refresh_from_db()
    assert old.whop_channel_id == other.whop_channel_id  # the leak this repairs
    shared = SimpleNamespace(whop_channel_id=old.whop_channel_id, refresh_from_db=lambda: None)

    call_command("marketplace_separate_shop_dms")

    a, b = (Conversation.objects.select_related("channel").get(shop=s) for s in (bikes, cameras))
    assert (a.channel_id, b.channel_id) == (old.pk, other.pk)  # same rows, same keys
    new_ids = {a.channel.whop_channel_id, b.channel.whop_channel_id}
    assert len(new_ids) == 2 and shared.whop_channel_id not in new_ids and "" not in new_ids
    assert whop_members(a.channel) == whop_ids(buyer, bikes.identity, bikes.owner)
    assert whop_members(b.channel) == whop_ids(buyer, cameras.identity, cameras.owner)
    # The shared DM is left on Whop as it was: only the buyer and the owner were ever in it.
    assert whop_members(shared) == whop_ids(buyer, bikes.owner)

    carol = make_user("carol")
    join(bikes, carol)
    carol_on_whop = WhopAs(whop, carol)
    assert carol_on_whop.channel_ids() == {a.channel.whop_channel_id}
    assert carol_on_whop.read(shared) == 404 and carol_on_whop.read(b.channel) == 404
    again = services.message_seller(buyer, listings[1], URL.format(listings[1].pk))
    assert again.channel_id == b.channel_id
    call_command("marketplace_separate_shop_dms")  # nothing left to do
    b.channel.refresh_from_db()
    assert b.channel.whop_channel_id in new_ids


def test_a_shop_identity_is_no_login_and_is_named_after_the_shop(two_shops):
    (bikes, _), _ = two_shops
    identity = bikes.identity
    assert identity.username == f"shop:{bikes.pk}" and not identity.is_active
    assert not identity.has_usable_password()
    assert identity.email == f"shop+{bikes.pk}@shops.marketplace.invalid"
    assert not Client().login(username=identity.username, password="")
    adapter = MarketplaceUserAdapter()
    assert adapter.get_display_name(identity) == "Bikes"
    assert adapter.has_verified_email(identity)
    identity.email = "someone@example.com"  # not the site's address: not vouched for
    assert not adapter.has_verified_email(identity)
