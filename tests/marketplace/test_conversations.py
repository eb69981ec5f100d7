"""Conversations: one DM per buyer × shop, context messages, access following the shop's team.

Against the emulator over HTTP with dm_bridge's work run inline (the ``whop`` fixture), so every
assertion about Whop reads the emulator's state.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage
from marketplace import services
from marketplace.models import Conversation, Listing, ShopStaff

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://testserver/listings/{}/"


def message(buyer, listing):
    return services.message_seller(buyer, listing, URL.format(listing.pk))


def join(shop, user):
    """``user`` accepts an invitation from the shop's owner."""
    invitation = services.invite_staff(shop, shop.owner, user.username, lambda token: "")
    services.accept_invitation(invitation, user)


def test_message_seller_opens_one_group_dm_with_buyer_owner_and_staff(
    whop, shop, listings, buyer, whop_members, whop_ids
):
    conversation = message(buyer, listings[0])
    channel = DmChannel.objects.get(pk=conversation.channel_id)
    assert channel.status == DmChannel.Status.ACTIVE
    assert channel.key == f"shop:{shop.pk}/buyer:{buyer.pk}"
    team = shop.team()
    assert whop_members(channel) == whop_ids(buyer, shop.identity, *team)
    assert conversation.listing == listings[0]
    sent = list(channel.outbox.values_list("content", "status"))
    assert sent == [
        (f"About: Bike 1 — <{URL.format(listings[0].pk)}>", DmOutboxMessage.Status.SENT)
    ]


def test_another_listing_of_the_same_shop_reuses_the_dm_with_a_context_message(
    whop, shop, listings, buyer
):
    first = message(buyer, listings[0])
    second = message(buyer, listings[1])
    again = message(buyer, listings[0])  # the same listing again: no second note about it
    assert first.pk == second.pk == again.pk
    assert Conversation.objects.count() == 1 and DmChannel.objects.count() == 1
    notes = list(first.channel.outbox.order_by("pk").values_list("dedupe_key", flat=True))
    assert notes == [f"listing:{listings[0].pk}", f"listing:{listings[1].pk}"]
    assert len(whop.requests("dm_channels.create")) == 1
    assert len(whop.requests("messages.create")) == 2
    first.refresh_from_db()
    assert first.listing == listings[0]  # the card shows the listing asked about last


def test_team_members_cannot_message_their_own_shop(whop, shop, listings):
    for user in shop.team():
        with pytest.raises(services.MarketplaceError, match="your own shop"):
            message(user, listings[0])
    assert not Conversation.objects.exists() and not DmChannel.objects.exists()


def test_adding_staff_adds_them_to_every_conversation_of_the_shop(
    whop, shop, listings, buyer, make_user, whop_members, whop_ids
):
    other_buyer = make_user("buyer2")
    conversations = [message(buyer, listings[0]), message(other_buyer, listings[1])]
    newcomer = make_user("newcomer")
    join(shop, newcomer)
    for conversation in conversations:
        channel = DmChannel.objects.get(pk=conversation.channel_id)
        assert whop_ids(newcomer) <= whop_members(channel)
    assert ShopStaff.objects.filter(shop=shop, user=newcomer).exists()


def test_removing_staff_removes_them_from_every_conversation(
    whop, shop, listings, buyer, whop_members, whop_ids
):
    conversation = message(buyer, listings[0])
    staff = shop.staff.get()
    services.remove_staff(shop, staff)
    channel = DmChannel.objects.get(pk=conversation.channel_id)
    assert whop_members(channel) == whop_ids(buyer, shop.identity, shop.owner)
    assert DmMember.objects.get(channel=channel, user=staff).status == DmMember.Status.REMOVED
    # Whop itself now refuses their token for this DM.
    assert not ShopStaff.objects.filter(user=staff).exists()


def test_a_team_that_would_exceed_50_dm_members_is_refused(whop, shop, listings, buyer):
    User = get_user_model()
    extra = User.objects.bulk_create(  # with addresses: open_dm refuses members without one
        User(username=f"helper{n}", email=f"helper{n}@example.com") for n in range(46)
    )
    ShopStaff.objects.bulk_create(ShopStaff(shop=shop, user=user) for user in extra)
    assert len(shop.team()) == 48  # owner + 47 staff: with the buyer and the shop, exactly 50
    conversation = message(buyer, listings[0])
    assert conversation.channel.members.count() == 50

    late = User.objects.create(username="one-too-many")
    with pytest.raises(services.MarketplaceError, match="at most 48 people"):
        join(shop, late)
    assert conversation.channel.members.count() == 50

    # A team grown past the limit behind the app's back (e.g. in bulk) cannot open new DMs.
    ShopStaff.objects.create(shop=shop, user=User.objects.get(username="one-too-many"))
    with pytest.raises(services.MarketplaceError, match="too large for a private conversation"):
        message(User.objects.create(username="late-buyer", email="late@example.com"), listings[1])
    assert Conversation.objects.count() == 1


def test_selling_a_listing_keeps_its_conversations(
    whop, shop, listings, buyer, whop_members, whop_ids
):
    conversation = message(buyer, listings[0])
    Listing.objects.filter(pk=listings[0].pk).update(status=Listing.Status.SOLD)
    conversation.refresh_from_db()
    assert conversation.channel.status == DmChannel.Status.ACTIVE
    assert whop_members(conversation.channel) == whop_ids(buyer, shop.identity, *shop.team())


def test_a_deleted_dm_gives_a_clear_message(whop, shop, listings, buyer):
    from dm_bridge import services as dm

    conversation = message(buyer, listings[0])
    dm.delete_channel(conversation.channel)
    with pytest.raises(services.MarketplaceError, match="closed by the site's team"):
        message(buyer, listings[1])


def test_admin_edits_to_staff_are_synced_to_the_dms(
    whop, shop, listings, buyer, make_user, whop_members, whop_ids
):
    conversation = message(buyer, listings[0])
    newcomer = make_user("newcomer")
    ShopStaff.objects.filter(shop=shop).delete()
    ShopStaff.objects.create(shop=shop, user=newcomer)
    assert services.sync_shop_members(shop) == 1
    assert whop_members(conversation.channel) == whop_ids(
        buyer, shop.identity, shop.owner, newcomer
    )


@pytest.mark.django_db(transaction=True)
def test_a_team_member_without_an_email_gives_the_buyer_a_clear_error_not_a_500(whop, make_user):
    from decimal import Decimal

    from marketplace.models import Listing, Shop
    from marketplace.services import MarketplaceError, message_seller

    owner = make_user("mailless", email=None)  # e.g. created in the admin
    shop = Shop.objects.create(name="No Mail Shop", owner=owner)
    listing = Listing.objects.create(shop=shop, title="Lamp", price=Decimal(5))
    with pytest.raises(MarketplaceError, match="cannot receive messages right now"):
        message_seller(make_user("asker"), listing, "http://testserver/listings/1/")
    assert whop.requests("dm_channels.create") == []
