"""Marketplace workflows: messaging a shop and keeping its DMs' members in step with its team.

dm_bridge is used only through its public API (``dm_bridge.services``); every DM change it
makes is recorded here in one transaction and applied on Whop by its workers.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from dm_bridge import services as dm
from dm_bridge.conf import dm_bridge_settings
from dm_bridge.exceptions import ChannelDeletedError, MemberLimitExceeded

from .models import Conversation, Listing, Shop, ShopStaff

logger = logging.getLogger("marketplace")


class MarketplaceError(Exception):
    """Something the user asked for cannot be done; the message says why, for them."""


def message_seller(buyer: Any, listing: Listing, listing_url: str) -> Conversation:
    """The buyer's conversation with the listing's shop, opened (or reused) with a note about
    this listing. One DM per buyer × shop; asking about another listing adds a context message
    ("About: …") to the same DM instead of opening a second one."""
    shop = listing.shop
    if shop.is_team_member(buyer):
        raise MarketplaceError("This is your own shop: buyers message it, you answer here.")
    members = [buyer, *shop.team()]
    try:
        with transaction.atomic():
            channel = dm.open_dm(
                Conversation.key_for(shop, buyer),
                members,
                custom_name=f"{shop.name} · {buyer.get_username()}"[:100],
                context_message=f"About: {listing.title} — {listing_url}",
                context_key=f"listing:{listing.pk}",
            )
            conversation = _conversation_for(buyer, shop, channel)
            if conversation.listing_id != listing.pk:
                conversation.listing = listing
                conversation.save(update_fields=["listing", "updated_at"])
    except MemberLimitExceeded as exc:
        raise MarketplaceError(
            f"{shop.name}'s team is too large for a private conversation "
            f"(at most {_max_members()} people per DM). Please contact them another way."
        ) from exc
    except ChannelDeletedError as exc:
        raise MarketplaceError(
            "Your conversation with this shop was closed by the site's team."
        ) from exc
    return conversation


def add_staff(shop: Shop, username: str) -> Any:
    """Give ``username`` access to the shop and to all its conversations."""
    user = (
        get_user_model().objects.filter(username__iexact=username.strip(), is_active=True).first()
    )
    if user is None:
        raise MarketplaceError(f"There is no user called {username.strip()!r}.")
    if shop.is_team_member(user):
        raise MarketplaceError(f"{user.get_username()} is already on the team.")
    team_limit = _max_members() - 1  # every DM also holds the buyer
    if len(shop.team()) + 1 > team_limit:
        raise MarketplaceError(
            f"A shop's team can have at most {team_limit} people: each conversation is a DM of "
            f"at most {_max_members()} members, including the buyer."
        )
    with transaction.atomic():
        ShopStaff.objects.create(shop=shop, user=user)
        for conversation in _live_conversations(shop):
            if conversation.buyer_id != user.pk:
                dm.add_member(conversation.channel, user)
    logger.info("user %s joined shop %s", user.pk, shop.pk)
    return user


def remove_staff(shop: Shop, user: Any) -> None:
    """Take ``user`` off the team and out of the shop's conversations (their own purchases'
    conversations, as a buyer, stay)."""
    with transaction.atomic():
        deleted, _ = ShopStaff.objects.filter(shop=shop, user=user).delete()
        if not deleted:
            raise MarketplaceError(f"{user.get_username()} is not on the team.")
        for conversation in _live_conversations(shop):
            if conversation.buyer_id != user.pk:
                dm.remove_member(conversation.channel, user)
    logger.info("user %s left shop %s", user.pk, shop.pk)


def sync_shop_members(shop: Shop) -> int:
    """Make every conversation's members exactly buyer + team (after edits in the admin)."""
    team = shop.team()
    count = 0
    with transaction.atomic():
        for conversation in _live_conversations(shop):
            dm.set_members(conversation.channel, [conversation.buyer, *team])
            count += 1
    return count


def _conversation_for(buyer: Any, shop: Shop, channel: Any) -> Conversation:
    try:
        with transaction.atomic():
            return Conversation.objects.create(buyer=buyer, shop=shop, channel=channel)
    except IntegrityError:  # a concurrent click created it first
        return Conversation.objects.get(buyer=buyer, shop=shop)


def _live_conversations(shop: Shop) -> Any:
    return (
        shop.conversations.select_related("channel", "buyer")
        .exclude(channel__status="deleted")
        .order_by("pk")
    )


def _max_members() -> int:
    return int(dm_bridge_settings.MAX_MEMBERS)
