"""How dm_bridge learns about the host's users. Subclass and name yours in ``USER_ADAPTER``."""

from __future__ import annotations

from typing import Any

from django.apps import apps


class DefaultUserAdapter:
    """Reads Django's standard user fields. Override any method for a custom user model."""

    def get_email(self, user: Any) -> str:
        """The email used to enrol the user as a connected account ('' if none)."""
        return (getattr(user, "email", "") or "").strip()

    def has_verified_email(self, user: Any) -> bool:
        """Has the site verified that ``user`` owns ``get_email(user)``?

        dm_bridge provisions a Whop identity only when this is True: a connected account
        created for an address that belongs to a Whop user *is* that user, so an unverified
        address would hand someone else's Whop DMs to whoever typed it in. Secure by default:
        with django-allauth installed, a verified ``EmailAddress`` for exactly that address;
        without it, False — override this with your site's own verification.
        """
        email = self.get_email(user)
        if not email or not apps.is_installed("allauth.account"):
            return False
        from allauth.account.models import EmailAddress

        return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()

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
