"""How the marketplace lets dm_bridge's REST API act: members read their DMs; the rest is the
marketplace's job ("Message seller" opens DMs, the staff page changes members)."""

from dm_bridge.policy import DefaultPolicy


class MarketplacePolicy(DefaultPolicy):
    def can_open(self, user, *, key, users) -> bool:
        return False

    def can_rename(self, user, channel) -> bool:
        return False

    def can_add_member(self, user, channel, new_member) -> bool:
        return False

    def can_remove_member(self, user, channel, member) -> bool:
        return False

    def can_delete(self, user, channel) -> bool:
        return False
