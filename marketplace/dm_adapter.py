"""How dm_bridge sees the marketplace's users: shops' chat identities are the site's own."""

from __future__ import annotations

from typing import Any

from dm_bridge.adapters import DefaultUserAdapter

from .models import Shop, shop_identity_email


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
