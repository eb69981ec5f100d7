"""How dm_bridge sees the marketplace: shops' chat identities are the site's own users, and
reminder emails name the conversation after its shop and listing and link to its page."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from dm_bridge.adapters import DefaultReminderAdapter, DefaultUserAdapter
from dm_bridge.services.response_times import DefaultResponseTimeAdapter

from .models import Conversation, Shop, shop_identity_email


class MarketplaceUserAdapter(DefaultUserAdapter):
    def has_verified_email(self, user: Any) -> bool:
        # A shop identity's address is built from MARKETPLACE_SHOP_IDENTITY_EMAIL, a mailbox the
        # site owns; only that exact address counts (an admin edit to anything else does not).
        shop = _shop_of(user)
        if shop is not None:
            return self.get_email(user).lower() == shop_identity_email(shop.pk).lower()
        return super().has_verified_email(user)

    def get_display_name(self, user: Any) -> str:
        shop = _shop_of(user)
        return shop.name if shop is not None else super().get_display_name(user)


def _shop_of(user: Any) -> Shop | None:
    return Shop.objects.filter(identity_id=user.pk).first()


class MarketplaceReminderAdapter(DefaultReminderAdapter):
    def get_conversation_title(self, channel: Any, user: Any) -> str:
        conversation = _conversation_of(channel)
        if conversation is None:
            return super().get_conversation_title(channel, user)
        # The buyer knows it by the shop, the shop's team by the buyer.
        who = (
            conversation.shop.name
            if conversation.buyer_id == user.pk
            else f"{conversation.buyer.get_username()} · {conversation.shop.name}"
        )
        listing = conversation.listing
        return f"{who} · {listing.title}" if listing is not None else who

    def get_conversation_url(self, channel: Any, user: Any) -> str:
        conversation = _conversation_of(channel)
        if conversation is None:
            return super().get_conversation_url(channel, user)
        return conversation.get_absolute_url()

    def get_preferences_url(self, user: Any) -> str:
        return reverse("notification-settings")


def _conversation_of(channel: Any) -> Conversation | None:
    return (
        Conversation.objects.select_related("shop", "buyer", "listing")
        .filter(channel_id=channel.pk)
        .first()
    )


class MarketplaceResponseTimeAdapter(DefaultResponseTimeAdapter):
    """A conversation's buyer asks; its shop (any of its team, or its identity) answers."""

    def get_responder(self, channel: Any) -> Shop | None:
        conversation = _conversation_of(channel)
        return conversation.shop if conversation is not None else None

    def get_asker_ids(self, channel: Any) -> set[Any]:
        conversation = _conversation_of(channel)
        return {conversation.buyer_id} if conversation is not None else set()
