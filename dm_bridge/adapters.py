"""How dm_bridge learns about the host's users. Subclass and name yours in ``USER_ADAPTER``."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Model

from .conf import dm_bridge_settings


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

        verified = EmailAddress.objects.filter(user=user, email__iexact=email, verified=True)
        return bool(verified.exists())

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


class DefaultReminderAdapter:
    """What reminder emails say about a conversation. Name yours in ``REMINDER_ADAPTER``.

    URLs may be paths: dm_bridge makes them absolute with ``DM_BRIDGE['SITE_URL']``.
    """

    def get_conversation_title(self, channel: Any, user: Any) -> str:
        """How ``user`` knows the conversation: the host row's ``str()``, else its name."""
        host = channel.host
        if host is not None:
            return str(host)
        return channel.custom_name or channel.whop_name or "a conversation"

    def get_conversation_url(self, channel: Any, user: Any) -> str:
        """The page that opens the conversation: the host row's ``get_absolute_url()``."""
        host = channel.host
        if host is not None and hasattr(host, "get_absolute_url"):
            return str(host.get_absolute_url())
        return ""

    def get_preferences_url(self, user: Any) -> str:
        """Where the user changes how often they are reminded ('' = no link)."""
        return ""


class DefaultModerationAdapter:
    """Who the *parties* of blocks are and which users act for them. Name yours in
    ``MODERATION_ADAPTER``.

    A party is a user or any host row (a shop, a team, a company page): a block is between two
    parties, and closes the DMs that connect them. By default every party is a user and a DM's
    parties are its members; a host whose DMs connect rows (buyer × shop) says so here.
    """

    def party_users(self, party: Any) -> list[Any]:
        """The users who speak for ``party`` in its DMs (taken out of a DM the block closes)."""
        return [party] if isinstance(party, get_user_model()) else []

    def may_act_for(self, user: Any, party: Any) -> bool:
        """May ``user`` block or unblock on behalf of ``party``?"""
        return _same_row(user, party)

    def parties_of(self, user: Any) -> list[Any]:
        """Every party ``user`` may act for (whose blocks they see and may lift)."""
        return [user]

    def parties_for_key(self, key: str, users: list[Any]) -> list[Any]:
        """The parties a DM about to be opened (``open_dm(key, users)``) connects."""
        return list(users)

    def channel_parties(self, channel: Any) -> list[Any]:
        """The parties an existing DM connects: everyone who is or was a member of it."""
        return [m.user for m in channel.members.select_related("user")]

    def acting_party(self, channel: Any, user: Any) -> Any:
        """The party ``user`` speaks for in ``channel`` (who blocks when they press Block)."""
        return user

    def counterpart(self, channel: Any, user: Any) -> Any | None:
        """The party ``user`` blocks from ``channel`` when they name nobody: the one other
        party, or None when there are several (a group DM) — then they must name a user."""
        me = self.acting_party(channel, user)
        others = [p for p in self.channel_parties(channel) if not _same_row(p, me)]
        return others[0] if len(others) == 1 else None

    def describe_party(self, party: Any) -> str:
        """How a party is named to people (messages, admin)."""
        if isinstance(party, get_user_model()):
            return str(party.get_username())
        return str(party)


def _same_row(a: Any, b: Any) -> bool:
    # Not ``type(a) is type(b)``: request.user is a lazy wrapper (isinstance sees through it).
    return (
        isinstance(a, Model)
        and isinstance(b, Model)
        and a._meta.concrete_model is b._meta.concrete_model
        and a.pk == b.pk
    )


def get_user_adapter() -> DefaultUserAdapter:
    """An instance of ``DM_BRIDGE["USER_ADAPTER"]`` (documented as a subclass of this one)."""
    adapter: DefaultUserAdapter = dm_bridge_settings.USER_ADAPTER()
    return adapter
