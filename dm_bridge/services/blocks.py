"""Blocks between parties (users or host rows such as a shop), and site-wide blocks.

A block *closes* the DMs that connect its two parties: the users who speak for either party
(``MODERATION_ADAPTER.party_users``) are taken out of the Whop DM. Nobody can post in it, it
leaves both sides' DMs lists (Whop's element lists the DMs one is a member of), and its
history stays on Whop for the moderators and for later. Removing only the blocked side would
leave the blocker's DMs list showing it; deleting it would lose the evidence and make
unblocking impossible. Each removal is recorded (``BlockedMembership``), so unblocking adds
those users back (``add_member``) unless another block still covers the DM. While a block
stands, ``open_dm`` refuses a DM between the parties (``ConversationBlocked``), with the same
neutral words for both sides and for site-wide blocks.

A site-wide block (no blocker: the site's moderators) takes one user out of all their DMs
and keeps them from opening new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Q, QuerySet

from .. import signals
from ..adapters import DefaultModerationAdapter
from ..conf import dm_bridge_settings
from ..exceptions import DmBridgeError, InvalidDmRequest
from ..models import Block, BlockedMembership, DmChannel, DmMember, ModerationAction
from . import channels
from .engine.scheduling import send_on_commit
from .validation import CURRENT_MEMBER

logger = logging.getLogger("dm_bridge")

BLOCKED_TEXT = "This conversation can't be opened: one of its members can't be messaged right now."


class ConversationBlocked(DmBridgeError):
    """A block stands between the parties of a DM being opened. The message never says who
    blocked whom (see the module docstring)."""


def get_moderation_adapter() -> DefaultModerationAdapter:
    # The host's class from DM_BRIDGE["MODERATION_ADAPTER"]: documented as a subclass.
    adapter: DefaultModerationAdapter = dm_bridge_settings.MODERATION_ADAPTER()
    return adapter


def party_key(party: Any) -> tuple[int, str]:
    """(content type ID, primary key as text): how a party is stored in a ``Block``."""
    if not isinstance(party, models.Model) or party.pk is None:
        raise InvalidDmRequest(f"{party!r} is not a saved row, so it cannot block or be blocked.")
    return ContentType.objects.get_for_model(party).pk, str(party.pk)


def _party_q(prefix: str, keys: Iterable[tuple[int, str]]) -> Q:
    q = Q(pk__in=[])
    for type_id, object_id in keys:
        q |= Q(**{f"{prefix}_type_id": type_id, f"{prefix}_id": object_id})
    return q


def blocks_between(parties: Iterable[Any]) -> QuerySet[Block]:
    """Blocks that stand between any two of ``parties``, and site-wide blocks of any of them."""
    keys = {party_key(p) for p in parties}
    blocked = _party_q("blocked", keys)
    return Block.objects.filter(
        (_party_q("blocker", keys) & blocked) | (Q(blocker_type__isnull=True) & blocked)
    )


def blocks_by(parties: Iterable[Any]) -> QuerySet[Block]:
    """The blocks any of ``parties`` holds (not site-wide ones), newest first."""
    return Block.objects.filter(_party_q("blocker", {party_key(p) for p in parties}))


def find_block(blocker: Any, blocked: Any) -> Block | None:
    """The block ``blocker`` holds against ``blocked`` (one direction only), or None."""
    (bt, bi), (dt, di) = party_key(blocker), party_key(blocked)
    return Block.objects.filter(
        blocker_type_id=bt, blocker_id=bi, blocked_type_id=dt, blocked_id=di
    ).first()


def site_block(user: Any) -> Block | None:
    dt, di = party_key(user)
    return Block.objects.filter(
        blocker_type__isnull=True, blocked_type_id=dt, blocked_id=di
    ).first()


def is_site_blocked(user: Any) -> bool:
    """Is ``user`` blocked site-wide (a host leaves them out of the DMs it opens)?"""
    return site_block(user) is not None


def check_open(key: str, users: list[Any]) -> None:
    """Raise ``ConversationBlocked`` if a block stands between the parties of ``open_dm(key,
    users)`` (its users, and the parties the adapter sees in the key)."""
    parties = [*users, *get_moderation_adapter().parties_for_key(key, users)]
    if blocks_between(parties).exists():
        raise ConversationBlocked(BLOCKED_TEXT)


def is_channel_closed(channel: DmChannel) -> bool:
    """Is the DM closed by a block between its parties (not merely one user's site block)?"""
    return BlockedMembership.objects.filter(
        channel=channel, block__blocker_type__isnull=False
    ).exists()


def closed_channels() -> QuerySet[BlockedMembership, Any]:
    """IDs (``values("channel_id")``) of the DMs a block between parties has closed."""
    return BlockedMembership.objects.filter(block__blocker_type__isnull=False).values("channel_id")


def hidden_channels(user: Any) -> QuerySet[BlockedMembership, Any]:
    """IDs (``values("channel_id")``) of the DMs ``user``'s inbox should not list: closed ones,
    and those a block took them out of."""
    return BlockedMembership.objects.filter(
        Q(block__blocker_type__isnull=False) | Q(user=user)
    ).values("channel_id")


def block(blocker: Any, blocked: Any, *, actor: Any = None, reason: str = "") -> Block:
    """``blocker`` blocks ``blocked`` (idempotent): the DMs connecting them close, no new one
    opens. ``actor``: the user who asked; they must be allowed to act for ``blocker``
    (``may_act_for``). Logged in the audit log; sends ``dm_party_blocked`` after commit."""
    adapter = get_moderation_adapter()
    blocker_key, blocked_key = party_key(blocker), party_key(blocked)
    if blocker_key == blocked_key:
        raise InvalidDmRequest("You can't block yourself.")
    if actor is not None and not adapter.may_act_for(actor, blocker):
        raise InvalidDmRequest("You can't block on behalf of someone else.")
    with transaction.atomic():
        existing = find_block(blocker, blocked)
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                row = Block.objects.create(
                    blocker_type_id=blocker_key[0],
                    blocker_id=blocker_key[1],
                    blocked_type_id=blocked_key[0],
                    blocked_id=blocked_key[1],
                    created_by=actor,
                    reason=(reason or "").strip(),
                )
        except IntegrityError:  # the same block, pressed twice at once
            found = find_block(blocker, blocked)
            assert found is not None
            return found
        users = {u.pk: u for p in (blocker, blocked) for u in adapter.party_users(p)}
        for channel in channels_connecting(blocker, blocked):
            _close(row, channel, users.values())
        _log(ModerationAction.Kind.BLOCK, row, actor, reason, blocker, blocked)
        send_on_commit(
            signals.dm_party_blocked,
            Block,
            block=row,
            blocker=blocker,
            blocked=blocked,
            actor=actor,
        )
    logger.info("block %s: DMs between its parties closed", row.pk)
    return row


def unblock(blocker: Any, blocked: Any, *, actor: Any = None) -> bool:
    """Lift ``blocker``'s block of ``blocked``; False if there was none. The DMs it closed get
    their members back, unless another block still covers them (they wait for that one)."""
    if actor is not None and not get_moderation_adapter().may_act_for(actor, blocker):
        raise InvalidDmRequest("You can't unblock on behalf of someone else.")
    with transaction.atomic():
        row = find_block(blocker, blocked)
        if row is None:
            return False
        _lift(row)
        _log(ModerationAction.Kind.UNBLOCK, None, actor, "", blocker, blocked)
        send_on_commit(
            signals.dm_party_unblocked, Block, blocker=blocker, blocked=blocked, actor=actor
        )
    return True


def block_site_wide(
    user: Any, *, moderator: Any = None, reason: str = "", log: bool = True
) -> Block:
    """The site's moderators block ``user``: out of all their DMs, no new ones (idempotent).
    ``log=False`` when the caller writes the audit row itself (a report's action)."""
    key = party_key(user)
    with transaction.atomic():
        existing = site_block(user)
        if existing is not None:
            return existing
        row = Block.objects.create(
            blocked_type_id=key[0], blocked_id=key[1], created_by=moderator, reason=reason
        )
        live = DmChannel.objects.exclude(status=DmChannel.Status.DELETED).filter(
            members__user=user, members__status__in=CURRENT_MEMBER
        )
        for channel in live.distinct():
            _close(row, channel, [user])
        if log:
            _log(ModerationAction.Kind.BLOCK_SITE_WIDE, row, moderator, reason, None, user)
        send_on_commit(
            signals.dm_party_blocked, Block, block=row, blocker=None, blocked=user, actor=moderator
        )
    return row


def lift_site_block(user: Any, *, moderator: Any = None, reason: str = "") -> bool:
    """Lift a site-wide block; the user goes back into the DMs it took them out of."""
    with transaction.atomic():
        row = site_block(user)
        if row is None:
            return False
        _lift(row)
        _log(ModerationAction.Kind.LIFT_SITE_BLOCK, None, moderator, reason, None, user)
        send_on_commit(
            signals.dm_party_unblocked, Block, blocker=None, blocked=user, actor=moderator
        )
    return True


def channels_connecting(a: Any, b: Any) -> list[DmChannel]:
    """The live DMs whose parties include both ``a`` and ``b``."""
    adapter = get_moderation_adapter()
    users_a = [u.pk for u in adapter.party_users(a)]
    users_b = [u.pk for u in adapter.party_users(b)]
    candidates = (
        DmChannel.objects.exclude(status=DmChannel.Status.DELETED)
        .filter(pk__in=DmMember.objects.filter(user__in=users_a).values("channel_id"))
        .filter(pk__in=DmMember.objects.filter(user__in=users_b).values("channel_id"))
    )
    wanted = {party_key(a), party_key(b)}
    return [
        channel
        for channel in candidates
        if wanted <= {party_key(p) for p in adapter.channel_parties(channel)}
    ]


def _close(row: Block, channel: DmChannel, users: Iterable[Any]) -> None:
    for user in users:
        if channel.members.filter(user=user, status__in=CURRENT_MEMBER).exists():
            channels.remove_member(channel, user)
            BlockedMembership.objects.get_or_create(block=row, channel=channel, user=user)


def _lift(row: Block) -> None:
    """Delete ``row``; hand its closed memberships to another block still covering the DM, or
    add the users back."""
    adapter = get_moderation_adapter()
    memberships = list(row.memberships.select_related("channel", "user"))
    row.delete()
    for membership in memberships:
        channel, user = membership.channel, membership.user
        peer = blocks_between(adapter.channel_parties(channel)).filter(blocker_type__isnull=False)
        still = peer.first() or site_block(user)
        if still is not None:
            BlockedMembership.objects.get_or_create(block=still, channel=channel, user=user)
            continue
        try:
            channels.add_member(channel, user)
        except DmBridgeError as exc:  # deleted meanwhile, or full: nothing to give back
            logger.info("not re-adding user %s to channel %s: %s", user.pk, channel.pk, exc)


def _log(kind: str, row: Block | None, actor: Any, reason: str, blocker: Any, blocked: Any) -> None:
    from .moderation import log_action

    adapter = get_moderation_adapter()
    who = "the site" if blocker is None else adapter.describe_party(blocker)
    verb = "blocked" if kind in ("block", "block_site_wide") else "unblocked"
    log_action(
        kind,
        actor=actor,
        reason=reason,
        block=row,
        target_user=blocked if isinstance(blocked, get_user_model()) else None,
        summary=f"{who} {verb} {adapter.describe_party(blocked)}"[:300],
    )
