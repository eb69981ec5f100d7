"""Who may see and change which DM through dm_bridge's REST API and template tags.

The host decides: subclass ``DefaultPolicy`` and name it in ``DM_BRIDGE["POLICY"]``. Visibility
is enforced before any permission check — a user who cannot see a channel gets 404, exactly
as if it did not exist, and no Whop call is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet

from .conf import dm_bridge_settings
from .models import DmChannel, DmMember

CURRENT = (DmMember.Status.PENDING, DmMember.Status.ACTIVE, DmMember.Status.FAILED)


class DefaultPolicy:
    """Members see their channels and manage them together; only staff delete.

    Every method gets the acting (authenticated) user first.
    """

    def visible_channels(self, user: Any) -> QuerySet[DmChannel]:
        """The channels ``user`` may see at all: those they are a current member of."""
        if not getattr(user, "is_authenticated", False):
            return DmChannel.objects.none()
        return DmChannel.objects.exclude(status=DmChannel.Status.DELETED).filter(
            pk__in=DmMember.objects.filter(user=user, status__in=CURRENT).values("channel_id")
        )

    def can_view(self, user: Any, channel: DmChannel) -> bool:
        return self.visible_channels(user).filter(pk=channel.pk).exists()

    def can_open(self, user: Any, *, key: str, users: Sequence[Any]) -> bool:
        """Open (or reuse) the DM ``key`` with ``users``. Default: only DMs the user is in."""
        return any(u.pk == user.pk for u in users)

    def can_rename(self, user: Any, channel: DmChannel) -> bool:
        return True  # any member (visibility was checked first)

    def can_add_member(self, user: Any, channel: DmChannel, new_member: Any) -> bool:
        return True

    def can_remove_member(self, user: Any, channel: DmChannel, member: Any) -> bool:
        """Members may leave; removing someone else takes staff."""
        return member.pk == user.pk or bool(getattr(user, "is_staff", False))

    def can_delete(self, user: Any, channel: DmChannel) -> bool:
        """Deleting removes every message for everyone: staff only."""
        return bool(getattr(user, "is_staff", False))


def get_policy() -> DefaultPolicy:
    # The host's class from DM_BRIDGE["POLICY"]: documented as a DefaultPolicy subclass.
    policy: DefaultPolicy = dm_bridge_settings.POLICY()
    return policy
