"""How dm_bridge's blocks see the marketplace (``DM_BRIDGE["MODERATION_ADAPTER"]``).

A conversation connects two parties, its buyer and its shop. The shop speaks through its team
(owner and staff): they are who a block takes out of the DM. The shop's identity stays in it —
it never logs in, so it cannot post — and keeps the DM's member set the shop's own.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model

from dm_bridge.adapters import DefaultModerationAdapter

from .models import Conversation, Shop

# Conversation keys: "shop:<id>/buyer:<id>", and "…/dm:<row>" for ones moved to their own DM.
KEY = re.compile(r"\Ashop:(?P<shop>\d{1,18})/buyer:(?P<buyer>\d{1,18})(?:/|\Z)")


class MarketplaceModerationAdapter(DefaultModerationAdapter):
    def party_users(self, party: Any) -> list[Any]:
        if isinstance(party, Shop):
            return party.team()
        return super().party_users(party)

    def may_act_for(self, user: Any, party: Any) -> bool:
        if isinstance(party, Shop):
            return party.is_team_member(user)
        return super().may_act_for(user, party)

    def parties_of(self, user: Any) -> list[Any]:
        shops = Shop.objects.filter(owner=user) | Shop.objects.filter(staff=user)
        return [user, *shops.distinct()]

    def parties_for_key(self, key: str, users: list[Any]) -> list[Any]:
        match = KEY.match(key)
        if match is None:
            return super().parties_for_key(key, users)
        shop = Shop.objects.filter(pk=match["shop"]).first()
        buyer = get_user_model().objects.filter(pk=match["buyer"]).first()
        return [p for p in (buyer, shop) if p is not None]

    def channel_parties(self, channel: Any) -> list[Any]:
        conversation = _conversation_of(channel)
        if conversation is None:
            return super().channel_parties(channel)
        return [conversation.buyer, conversation.shop]

    def acting_party(self, channel: Any, user: Any) -> Any:
        conversation = _conversation_of(channel)
        if conversation is not None and conversation.buyer_id != user.pk:
            return conversation.shop  # a team member blocks for the shop
        return user

    def counterpart(self, channel: Any, user: Any) -> Any | None:
        conversation = _conversation_of(channel)
        if conversation is None:
            return super().counterpart(channel, user)
        return conversation.shop if conversation.buyer_id == user.pk else conversation.buyer

    def describe_party(self, party: Any) -> str:
        if isinstance(party, Shop):
            return party.name
        return super().describe_party(party)


def _conversation_of(channel: Any) -> Conversation | None:
    return (
        Conversation.objects.select_related("shop", "buyer").filter(channel_id=channel.pk).first()
    )
