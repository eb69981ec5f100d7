"""Blocks: a buyer blocks a shop, a shop's team blocks a buyer; the DM closes on Whop (both
sides out, history kept), no new conversation opens, the inbox hides it, unblocking restores
the members — the team as it is by then. Against the emulator over HTTP, work inline."""

from __future__ import annotations

import httpx
import pytest

from dm_bridge import services as dm
from dm_bridge.exceptions import InvalidDmRequest
from dm_bridge.models import Block, BlockedMembership, ModerationAction
from marketplace import services
from marketplace.models import Shop

pytestmark = pytest.mark.django_db(transaction=True)


def join(shop, user):
    invitation = services.invite_staff(shop, shop.owner, user.username, lambda token: "")
    services.accept_invitation(invitation, user)


def test_a_buyer_blocking_a_shop_closes_the_dm_for_both_sides_and_unblock_reopens_it(
    whop, open_conversation, buyer, shop, listing, whop_members, whop_ids, post_as
):
    conversation = open_conversation(buyer)
    channel = conversation.channel
    before = post_as(shop.owner, channel, "Hi! Still interested?")
    everyone = whop_ids(buyer, shop.identity, *shop.team())
    assert whop_members(channel) == everyone

    services.block_shop(buyer, shop)
    assert whop_members(channel) == whop_ids(shop.identity)  # nobody who can post is left
    assert dm.is_channel_closed(channel)
    for user in (buyer, shop.owner):  # neither side can post any more
        with pytest.raises(httpx.HTTPStatusError):
            post_as(user, channel, "hello?")
    with pytest.raises(services.MarketplaceError, match="You blocked Bob's Bikes"):
        open_conversation(buyer)
    log = ModerationAction.objects.get()
    assert (log.kind, log.actor, log.summary) == ("block", buyer, "erin blocked Bob's Bikes")

    services.unblock_shop(buyer, shop)
    assert whop_members(channel) == everyone
    assert not dm.is_channel_closed(channel) and not BlockedMembership.objects.exists()
    channel.refresh_from_db()
    assert channel.whop_channel_id  # the same DM, history kept on Whop
    assert post_as(buyer, channel, "Back again") != before
    assert open_conversation(buyer).pk == conversation.pk


def test_a_shop_blocking_a_buyer_tells_the_buyer_nothing_about_who(
    whop, open_conversation, buyer, shop, whop_members, whop_ids
):
    conversation = open_conversation(buyer)
    services.block_buyer(shop.staff.get(), conversation)
    assert whop_members(conversation.channel) == whop_ids(shop.identity)
    assert not services.you_blocked(buyer, conversation)
    assert services.you_blocked(shop.owner, conversation)  # the whole team sees the shop's block
    with pytest.raises(services.MarketplaceError) as refused:
        open_conversation(buyer)
    assert str(refused.value) == "You can't message Bob's Bikes right now."
    # Only the team may lift it; the buyer cannot unblock themself.
    with pytest.raises(services.MarketplaceError):
        services.unblock_buyer(buyer, conversation)
    services.unblock_buyer(shop.owner, conversation)
    assert whop_members(conversation.channel) == whop_ids(buyer, shop.identity, *shop.team())


def test_two_blocks_keep_the_dm_closed_until_both_are_lifted(
    whop, open_conversation, buyer, shop, whop_members, whop_ids
):
    conversation = open_conversation(buyer)
    services.block_shop(buyer, shop)
    services.block_buyer(shop.owner, conversation)
    services.unblock_shop(buyer, shop)
    assert dm.is_channel_closed(conversation.channel)
    assert whop_members(conversation.channel) == whop_ids(shop.identity)
    with pytest.raises(services.MarketplaceError, match="right now"):
        open_conversation(buyer)
    services.unblock_buyer(shop.owner, conversation)
    assert whop_members(conversation.channel) == whop_ids(buyer, shop.identity, *shop.team())


def test_team_changes_during_a_block_apply_when_it_is_lifted(
    whop, open_conversation, buyer, shop, make_user, whop_members, whop_ids
):
    conversation = open_conversation(buyer)
    carol = shop.staff.get()
    services.block_shop(buyer, shop)
    newcomer = make_user("nina")
    join(shop, newcomer)  # joins every *open* conversation of the shop: not this one
    services.remove_staff(shop, carol)
    assert whop_members(conversation.channel) == whop_ids(shop.identity)
    services.unblock_shop(buyer, shop)
    assert whop_members(conversation.channel) == whop_ids(
        buyer, shop.identity, shop.owner, newcomer
    )


def test_a_block_only_closes_the_conversations_between_its_two_parties(
    whop, open_conversation, buyer, shop, make_user, whop_members, whop_ids
):
    from decimal import Decimal

    from marketplace.models import Listing

    mine = open_conversation(buyer)
    other = open_conversation(make_user("frank"))
    # carol (Bob's staff) also buys from Dana: that DM is not erin × Bob's Bikes.
    darkroom = Shop.objects.create(name="Dana's Darkroom", owner=make_user("dana"))
    camera = Listing.objects.create(shop=darkroom, title="Camera", price=Decimal(5))
    carol_buys = services.message_seller(shop.staff.get(), camera, "http://testserver/c/")
    services.block_shop(buyer, shop)
    assert dm.is_channel_closed(mine.channel)
    for untouched in (other, carol_buys):
        assert not dm.is_channel_closed(untouched.channel)
    assert whop_ids(shop.owner) <= whop_members(other.channel)


def test_blocking_is_idempotent_and_not_on_behalf_of_others(
    whop, open_conversation, buyer, shop, make_user
):
    open_conversation(buyer)
    first = dm.block(buyer, shop, actor=buyer)
    assert dm.block(buyer, shop, actor=buyer).pk == first.pk
    assert Block.objects.count() == 1 and ModerationAction.objects.count() == 1
    with pytest.raises(InvalidDmRequest, match="on behalf"):
        dm.block(shop, buyer, actor=make_user("mallory"))
    with pytest.raises(InvalidDmRequest, match="yourself"):
        dm.block(buyer, buyer, actor=buyer)
    with pytest.raises(services.MarketplaceError, match="own shop"):
        services.block_shop(shop.owner, shop)


def test_with_the_default_adapter_users_block_users_and_open_dm_refuses(whop, make_user):
    from dm_bridge.models import DmChannel

    a, b, c = make_user("ann"), make_user("ben"), make_user("cat")
    channel = dm.open_dm("users:ann-ben", [a, b])
    dm.block(a, b, actor=a)
    with pytest.raises(dm.ConversationBlocked) as refused:
        dm.open_dm("users:ben-ann-again", [b, a])
    assert "can't be messaged" in str(refused.value) and "ann" not in str(refused.value)
    with pytest.raises(dm.ConversationBlocked):
        dm.open_dm("users:ann-ben", [a, b])  # nor reuse the old one
    other = dm.open_dm("users:ann-cat", [a, c])  # ann blocked ben, not everyone
    other.refresh_from_db()
    assert other.status == DmChannel.Status.ACTIVE
    assert dm.unblock(a, b, actor=a)
    channel.refresh_from_db()
    assert set(
        channel.members.filter(status="active").values_list("user__username", flat=True)
    ) == {
        "ann",
        "ben",
    }


def test_a_team_member_blocked_site_wide_is_left_out_and_buyers_still_reach_the_shop(
    whop, open_conversation, buyer, shop, make_user, whop_members, whop_ids
):
    carol = shop.staff.get()
    dm.block_site_wide(carol, moderator=make_user("mod", is_staff=True), reason="spam")
    conversation = open_conversation(buyer)
    assert whop_members(conversation.channel) == whop_ids(buyer, shop.identity, shop.owner)
