"""Marketplace workflows: messaging a shop, opening shops, and a shop's team (invitations,
removals) kept in step with its DMs.

dm_bridge is used only through its public API (``dm_bridge.services``); every DM change it
makes is recorded here in one transaction and applied on Whop by its workers.

Every DM of a shop holds the shop's own identity (``Shop.identity``) besides the buyer and the
team. Whop keeps one DM per member set, so without it two shops of one owner would share a
buyer's DM, and a staff change in one shop would reach the other's conversation.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from dm_bridge import services as dm
from dm_bridge.conf import dm_bridge_settings
from dm_bridge.exceptions import (
    ChannelDeletedError,
    MemberLimitExceeded,
    UserNotProvisionable,
)

from .models import Conversation, Listing, Shop, ShopStaff, StaffInvitation

logger = logging.getLogger("marketplace")

# Abuse limits (issue 10); override in settings.
DEFAULT_NEW_CONVERSATIONS_PER_HOUR = 20
DEFAULT_NEW_SHOPS_PER_DAY = 5
DEFAULT_INVITATION_DAYS = 7


class MarketplaceError(Exception):
    """Something the user asked for cannot be done; the message says why, for them."""


class LimitReached(MarketplaceError):
    """A per-user abuse limit; views answer 429 with the message."""


# --- buyers ------------------------------------------------------------------------------------


def message_seller(buyer: Any, listing: Listing, listing_url: str) -> Conversation:
    """The buyer's conversation with the listing's shop, opened (or reused) with a note about
    this listing. One DM per buyer × shop; asking about another listing adds a context message
    ("About: …") to the same DM instead of opening a second one."""
    shop = listing.shop
    if shop.is_team_member(buyer):
        raise MarketplaceError("This is your own shop: buyers message it, you answer here.")
    if dm.find_block(buyer, shop) is not None:
        raise MarketplaceError(f"You blocked {shop.name}. Unblock it on its page to message it.")
    members = [buyer, shop.ensure_identity(), *_reachable_team(shop)]
    try:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_related("channel")
                .filter(buyer=buyer, shop=shop)
                .first()
            )
            if conversation is None:
                _check_recent(
                    buyer,
                    Conversation.objects.filter(buyer=buyer),
                    timedelta(hours=1),
                    _setting(
                        "MARKETPLACE_NEW_CONVERSATIONS_PER_HOUR", DEFAULT_NEW_CONVERSATIONS_PER_HOUR
                    ),
                    "You have started {n} new conversations in the last hour, the most we allow. "
                    "Please try again later; your existing conversations still work.",
                )
            channel = dm.open_dm(
                # The conversation's own key (rows from before keys were per shop × buyer keep theirs).
                conversation.channel.key if conversation else Conversation.key_for(shop, buyer),
                members,
                custom_name=f"{shop.name} · {buyer.get_username()}"[:100],
                context_message=about_listing(listing, listing_url),
                context_key=f"listing:{listing.pk}",
            )
            conversation = conversation or _conversation_for(buyer, shop, channel)
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
    except dm.ConversationBlocked as exc:  # the same words whoever blocked (see blocking below)
        raise MarketplaceError(CANT_MESSAGE.format(name=shop.name)) from exc
    except UserNotProvisionable as exc:  # e.g. an admin-made team account without an email
        logger.warning("conversation with shop %s refused: %s", shop.pk, exc)
        raise MarketplaceError(
            f"{shop.name} cannot receive messages right now; the site's team has been told."
        ) from exc
    return conversation


# Characters that start or end inline Markdown (emphasis, code, links, images, HTML, entities,
# strikethrough, tables) or that Whop may turn into links and mentions (``:`` ``@``).
_MARKDOWN_INLINE = re.compile(r"([\\`*_{}\[\]()<>!|~&:@#])")
_SPACE = re.compile(r"\s+")


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown on one line: nothing in it formats, links or mentions."""
    return _MARKDOWN_INLINE.sub(r"\\\1", _SPACE.sub(" ", text).strip())


def markdown_autolink(url: str) -> str:
    """``<url>`` with every character that could end or break the autolink percent-encoded."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not a web link: {url!r}")
    return "<" + quote(url, safe=":/?#@!$&'*+,;=%~") + ">"


def about_listing(listing: Listing, listing_url: str) -> str:
    return f"About: {markdown_text(listing.title)} — {markdown_autolink(listing_url)}"


# --- sellers -----------------------------------------------------------------------------------


def open_shop(owner: Any, shop: Shop) -> Shop:
    """Save a new ``shop`` for ``owner`` within their daily limit. Raises ``LimitReached`` or
    ``ShopNameTaken`` (a look-alike name created meanwhile)."""
    with transaction.atomic():
        _check_recent(
            owner,
            Shop.objects.filter(owner=owner),
            timedelta(days=1),
            _setting("MARKETPLACE_NEW_SHOPS_PER_DAY", DEFAULT_NEW_SHOPS_PER_DAY),
            "You have opened {n} shops in the last 24 hours, the most we allow. "
            "Please try again tomorrow.",
        )
        shop.owner = owner
        shop.save()
    logger.info("user %s opened shop %s", owner.pk, shop.pk)
    return shop


def invite_staff(
    shop: Shop, inviter: Any, recipient: str, accept_url: Callable[[str], str]
) -> StaffInvitation:
    """Invite a username or an email address to the shop's staff; nobody joins until they
    accept. The row is made whether or not that account exists, so the owner learns nothing
    about other people's accounts. ``accept_url(token)`` is the link mailed to an address."""
    recipient = recipient.strip()
    is_email = "@" in recipient
    invitee = None
    if not is_email:
        invitee = (
            get_user_model()
            .objects.filter(username__iexact=recipient, is_active=True, shop_identity__isnull=True)
            .first()
        )
        if invitee is not None and shop.is_team_member(invitee):
            raise MarketplaceError(f"{invitee.get_username()} is already on the team.")
    _check_team_room(shop)
    now = timezone.now()
    pending = shop.invitations.filter(
        recipient__iexact=recipient, status=StaffInvitation.Status.PENDING, expires_at__gt=now
    ).first()
    if pending is not None:
        return pending  # asking twice sends nothing new
    token = secrets.token_urlsafe(32)
    days = _setting("MARKETPLACE_INVITATION_DAYS", DEFAULT_INVITATION_DAYS)
    invitation = StaffInvitation.objects.create(
        shop=shop,
        invited_by=inviter,
        recipient=recipient,
        email=recipient if is_email else "",
        invitee=invitee,
        token_hash=_token_hash(token),
        expires_at=now + timedelta(days=days),
    )
    if is_email:
        link = accept_url(token)
        transaction.on_commit(
            lambda: send_mail(
                f"Join {shop.name}'s team on Marketplace",
                f"{inviter.get_username()} invites you to answer buyers' messages for "
                f"{shop.name}.\n\nAccept or decline (sign in first; valid {days} days):\n{link}\n\n"
                "If you did not expect this, ignore this email.",
                None,
                [recipient],
            ),
            robust=True,  # a mail failure is logged; the invitation stays revocable
        )
    logger.info("shop %s invited %s", shop.pk, "an email address" if is_email else "a username")
    return invitation


def invitation_for_token(token: str) -> StaffInvitation | None:
    return (
        StaffInvitation.objects.select_related("shop", "invited_by")
        .filter(token_hash=_token_hash(token))
        .first()
    )


def pending_invitations_for(user: Any) -> Any:
    return StaffInvitation.objects.select_related("shop", "invited_by").filter(
        invitee=user, status=StaffInvitation.Status.PENDING, expires_at__gt=timezone.now()
    )


def accept_invitation(invitation: StaffInvitation, user: Any) -> Shop:
    """Join the shop's team and all its conversations."""
    with transaction.atomic():
        invitation = _lock_open_invitation(invitation, user)
        shop = Shop.objects.select_for_update().get(pk=invitation.shop_id)  # one join at a time
        if shop.is_team_member(user):
            raise MarketplaceError("You are already on this shop's team.")
        _check_team_room(shop)
        ShopStaff.objects.create(shop=shop, user=user)
        for conversation in _live_conversations(shop):
            if conversation.buyer_id != user.pk:
                dm.add_member(conversation.channel, user)
        _respond(invitation, StaffInvitation.Status.ACCEPTED, user)
    logger.info("user %s joined shop %s", user.pk, shop.pk)
    return shop


def decline_invitation(invitation: StaffInvitation, user: Any) -> None:
    with transaction.atomic():
        _respond(_lock_open_invitation(invitation, user), StaffInvitation.Status.DECLINED, user)


def revoke_invitation(invitation: StaffInvitation) -> None:
    with transaction.atomic():
        invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.status != StaffInvitation.Status.PENDING:
            raise MarketplaceError("That invitation was already answered or withdrawn.")
        invitation.status = StaffInvitation.Status.REVOKED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["status", "responded_at"])


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
    """Make every conversation's members exactly buyer + shop identity + team (after edits in
    the admin, and for conversations opened before shops had identities)."""
    team = [shop.ensure_identity(), *shop.team()]
    count = 0
    with transaction.atomic():
        for conversation in _live_conversations(shop):
            dm.set_members(conversation.channel, [conversation.buyer, *team])
            count += 1
    return count


def move_to_own_dm(conversation: Conversation, *, note: str = "") -> Conversation:
    """Give ``conversation`` a fresh Whop DM with the current members (buyer, shop identity,
    team), for one that shares its Whop DM with another conversation.

    The shop identity makes the member set this conversation's own; ``dm.reopen_dm`` then
    lets dm_bridge create the new DM. The old Whop DM stays on Whop untouched: only people
    who were already in it (the buyer and the owner) can read its history.
    """
    shop, buyer = conversation.shop, conversation.buyer
    with transaction.atomic():
        channel = conversation.channel
        old = channel.whop_channel_id
        dm.reopen_dm(channel, [buyer, shop.ensure_identity(), *shop.team()])
        if note:
            dm.post_message(channel, note, dedupe_key="moved")
    logger.info(
        "conversation %s (channel %s) moved from Whop DM %s", conversation.pk, channel.pk, old
    )
    return conversation


# --- trust and safety: blocking and reporting ------------------------------------------------
#
# A buyer blocks a shop, a shop's team blocks a buyer (dm_bridge closes their conversation: both
# sides leave the Whop DM, its history stays). What each side is told: the blocker sees "You
# blocked …" and an Unblock button; the other side sees only that the conversation is closed
# and "You can't message … right now" — the same words as for a site-wide block by the
# moderators — never who blocked.

CANT_MESSAGE = "You can't message {name} right now."
DEFAULT_REPORTS_PER_HOUR = 10


def block_shop(buyer: Any, shop: Shop) -> None:
    if shop.is_team_member(buyer):
        raise MarketplaceError("You can't block your own shop.")
    dm.block(buyer, shop, actor=buyer)
    logger.info("buyer %s blocked shop %s", buyer.pk, shop.pk)


def unblock_shop(buyer: Any, shop: Shop) -> None:
    with transaction.atomic():
        if dm.unblock(buyer, shop, actor=buyer):
            _restore_members(Conversation.objects.filter(buyer=buyer, shop=shop).first())


def block_buyer(member: Any, conversation: Conversation) -> None:
    """A team member blocks the conversation's buyer for the whole shop."""
    if not conversation.shop.is_team_member(member):
        raise MarketplaceError("Only the shop's team can block its buyers.")
    dm.block(conversation.shop, conversation.buyer, actor=member)
    logger.info("shop %s blocked buyer %s", conversation.shop_id, conversation.buyer_id)


def unblock_buyer(member: Any, conversation: Conversation) -> None:
    if not conversation.shop.is_team_member(member):
        raise MarketplaceError("Only the shop's team can unblock its buyers.")
    with transaction.atomic():
        if dm.unblock(conversation.shop, conversation.buyer, actor=member):
            _restore_members(conversation)


def you_blocked(user: Any, conversation: Conversation) -> bool:
    """Did ``user``'s side (the buyer, or the shop for a team member) block the other?"""
    if conversation.buyer_id == user.pk:
        return dm.find_block(user, conversation.shop) is not None
    return dm.find_block(conversation.shop, conversation.buyer) is not None


def report_conversation(
    user: Any,
    conversation: Conversation,
    *,
    category: str,
    note: str = "",
    whop_message_id: str = "",
) -> Any:
    """File ``user``'s report on the conversation (or one message) for the moderators."""
    from dm_bridge.models import Report

    with transaction.atomic():
        again = Report.objects.filter(
            channel=conversation.channel,
            reporter=user,
            source=Report.Source.USER,
            whop_message_id=whop_message_id,
        ).exists()
        if not again:
            _check_recent(
                user,
                Report.objects.filter(reporter=user),
                timedelta(hours=1),
                _setting("MARKETPLACE_REPORTS_PER_HOUR", DEFAULT_REPORTS_PER_HOUR),
                "You have sent {n} reports in the last hour, the most we allow. Our moderators "
                "are looking at them; please try again later.",
            )
        return dm.file_report(
            conversation.channel,
            category=category,
            note=note,
            reporter=user,
            whop_message_id=whop_message_id,
        )


def _restore_members(conversation: Conversation | None) -> None:
    """After an unblock: the conversation's members as they should be now (the team may have
    changed meanwhile), unless another block still closes it."""
    if conversation is None:
        return
    channel = conversation.channel
    if channel.status == "deleted" or dm.is_channel_closed(channel):
        return
    shop = conversation.shop
    dm.set_members(channel, [conversation.buyer, shop.ensure_identity(), *_reachable_team(shop)])


def _reachable_team(shop: Shop) -> list[Any]:
    """The team without anyone the moderators blocked site-wide: buyers can still reach the
    shop, and the blocked member is not put into new conversations."""
    return [user for user in shop.team() if not dm.is_site_blocked(user)]


# --- internals ---------------------------------------------------------------------------------


def _check_recent(user: Any, rows: Any, window: timedelta, limit: int, message: str) -> None:
    """Refuse a new row when ``user`` made ``limit`` of ``rows`` within ``window``. Call inside
    the transaction that creates the row: the user's row lock makes concurrent requests wait,
    so a burst cannot all pass the count (SQLite: the write transaction serialises them)."""
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    if rows.filter(created_at__gte=timezone.now() - window).count() >= limit:
        raise LimitReached(message.format(n=limit))


def _check_team_room(shop: Shop) -> None:
    team_limit = _max_members() - 2  # every DM also holds the buyer and the shop's identity
    if len(shop.team()) + 1 > team_limit:
        raise MarketplaceError(
            f"A shop's team can have at most {team_limit} people: each conversation is a DM of "
            f"at most {_max_members()} members, including the buyer and the shop itself."
        )


def _lock_open_invitation(invitation: StaffInvitation, user: Any) -> StaffInvitation:
    invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
    # The same words whether it expired, was answered, or is someone else's.
    if not invitation.is_open or invitation.invitee_id not in (None, user.pk):
        raise MarketplaceError("This invitation is no longer valid.")
    return invitation


def _respond(invitation: StaffInvitation, status: str, user: Any) -> None:
    invitation.status = status
    invitation.invitee = user
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "invitee", "responded_at"])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        .exclude(channel_id__in=dm.closed_channels())  # a block keeps the team out
        .order_by("pk")
    )


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _max_members() -> int:
    return int(dm_bridge_settings.MAX_MEMBERS)
