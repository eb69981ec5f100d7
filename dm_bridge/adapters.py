"""How dm_bridge learns about the host's users. Subclass and name yours in ``USER_ADAPTER``."""

from __future__ import annotations

from typing import Any


class DefaultUserAdapter:
    """Reads Django's standard user fields. Override any method for a custom user model."""

    def get_email(self, user: Any) -> str:
        """The email used to enrol the user as a connected account ('' if none)."""
        return (getattr(user, "email", "") or "").strip()

    def get_display_name(self, user: Any) -> str:
        """The name other members see in chat (the per-company Whop profile name)."""
        full = user.get_full_name() if hasattr(user, "get_full_name") else ""
        return (full or user.get_username()).strip()

    def get_account_title(self, user: Any) -> str:
        """The title of the user's connected account on Whop."""
        return self.get_display_name(user)

    def get_internal_id(self, user: Any) -> str:
        """The marker stored in the connected account's metadata to find it again."""
        return str(user.pk)
