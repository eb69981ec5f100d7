"""Channel requests (web side): open a DM by key, change its members (the 50 cap), rename,
delete, reopen, post as the app.

Each request validates, writes the desired state in one transaction and enqueues the work on
commit. None calls Whop, so a web request stays fast and nothing is half-written when Whop is
down; the engine (``services.engine``) converges Whop to the rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ..exceptions import (
    ChannelDeletedError,
    InvalidDmRequest,
    MemberLimitExceeded,
)
from ..models import DmChannel, DmMember, DmOutboxMessage
from . import blocks
from .engine.scheduling import enqueue_channel, mark_due, restart, revive_channel
from .validation import (
    CURRENT_MEMBER,
    clean_key,
    clean_name,
    clean_users,
    company_for,
    current_member,
    lock_live_channel,
    max_members,
    require_provisionable,
    require_saved_user,
)

logger = logging.getLogger("dm_bridge")


def open_dm(
    key: str,
    users: Iterable[Any],
    *,
    company_id: str | None = None,
    custom_name: str = "",
    host: models.Model | None = None,
    context_message: str = "",
    context_key: str = "",
    requester: Any | None = None,
) -> DmChannel:
    """Get or create the DM channel for ``key`` (e.g. ``"shop:12/buyer:34"``) with ``users``.

    Idempotent: any number of concurrent calls with the same key return the same row and
    cause one Whop channel. ``users`` only seeds a *new* channel; use ``set_members`` to change
    an existing one. ``context_message`` is posted once per ``context_key`` (default: a hash of
    the message), also for an existing channel. A channel that had failed is tried afresh.

    ``requester`` (default: the first of ``users``) is whose request this is: once they have
    more than ``BACKLOG_THRESHOLD`` channels waiting to be created, the rest wait on
    ``BACKLOG_QUEUE`` so other users' DMs are not stuck behind them.

    Raises ``InvalidDmRequest`` (bad key/name/users), ``MemberLimitExceeded``,
    ``UserNotProvisionable`` (a member without a Whop identity has no email),
    ``ChannelDeletedError`` (the key's channel was deleted), ``ConversationBlocked`` (a block
    stands between its parties) before writing anything.
    """
    key = clean_key(key)
    custom_name = clean_name(custom_name)
    members = clean_users(users)
    company = company_for(company_id)
    if requester is not None:
        require_saved_user(requester)
    if len(members) > max_members():
        raise MemberLimitExceeded(
            f"A DM can have at most {max_members()} members; {len(members)} were given."
        )
    require_provisionable(members)
    blocks.check_open(key, members)  # a block between its parties: no DM, new or reused

    with transaction.atomic():
        defaults: dict[str, Any] = {
            "custom_name": custom_name,
            "next_attempt_at": timezone.now(),
            "requester": requester or members[0],
        }
        if host is not None:
            defaults["host_content_type"] = ContentType.objects.get_for_model(host)
            defaults["host_object_id"] = str(host.pk)
        try:
            with transaction.atomic():
                channel = DmChannel.objects.create(company_id=company, key=key, **defaults)
                created = True
        except IntegrityError:
            channel = DmChannel.objects.get(company_id=company, key=key)
            created = False
        if channel.status == DmChannel.Status.DELETED:
            raise ChannelDeletedError(
                f"The DM for key {key!r} was deleted; open it under a new key."
            )
        if created:
            DmMember.objects.bulk_create(DmMember(channel=channel, user=user) for user in members)
            logger.info(
                "dm channel %s opened for key %r with %d members", channel.pk, key, len(members)
            )
            enqueue_channel(channel)
        elif channel.status == DmChannel.Status.FAILED:
            revive_channel(channel)  # the user asked again: a failure is never final for them
        if context_message:
            post_message(channel, context_message, dedupe_key=context_key)
    return channel


def add_member(channel: DmChannel, user: Any) -> DmMember:
    """Make ``user`` a member (idempotent). Enforces the member cap before any Whop call."""
    require_saved_user(user)
    with transaction.atomic():
        channel = lock_live_channel(channel)
        member = DmMember.objects.filter(channel=channel, user=user).first()
        if member and member.status == DmMember.Status.FAILED:
            restart(DmMember.objects.filter(pk=member.pk), status=DmMember.Status.PENDING)
            member.refresh_from_db()
            mark_due(channel)
            return member
        if member and member.status in CURRENT_MEMBER:
            return member
        if channel.members.filter(status__in=CURRENT_MEMBER).count() >= max_members():
            raise MemberLimitExceeded(
                f"This DM already has {max_members()} members, Whop's maximum; remove someone first."
            )
        if member is None:
            member = DmMember.objects.create(channel=channel, user=user)
        elif member.status == DmMember.Status.REMOVING and member.whop_member_id:
            # Not removed on Whop yet: cancel the removal.
            member.status = DmMember.Status.ACTIVE
            member.save(update_fields=["status", "updated_at"])
            return member
        else:
            member.status = DmMember.Status.PENDING
            member.whop_member_id = ""
            member.attempts = member.failures = 0
            member.last_error = ""
            member.save()
        mark_due(channel)
    return member


def remove_member(channel: DmChannel, user: Any) -> DmMember | None:
    """Take ``user`` out of the channel (idempotent; returns None if they were not a member).

    On Whop the removal is applied by a worker; from then on their chat token cannot read it.
    """
    require_saved_user(user)
    with transaction.atomic():
        channel = lock_live_channel(channel)
        member = current_member(channel, user)
        if member is None:
            return None
        if member.status == DmMember.Status.PENDING and not member.attempts:
            # Never reached Whop: nothing to undo there.
            member.status = DmMember.Status.REMOVED
            member.removed_at = timezone.now()
            member.save(update_fields=["status", "removed_at", "updated_at"])
            return member
        member.status = DmMember.Status.REMOVING
        member.save(update_fields=["status", "updated_at"])
        mark_due(channel)
    return member


def set_members(channel: DmChannel, users: Iterable[Any]) -> None:
    """Make the channel's members exactly ``users`` (adds and removes as needed, cap checked first)."""
    wanted = {u.pk: u for u in clean_users(users)}
    if len(wanted) > max_members():
        raise MemberLimitExceeded(
            f"A DM can have at most {max_members()} members; {len(wanted)} were given."
        )
    with transaction.atomic():
        channel = lock_live_channel(channel)
        current = {
            m.user_id: m
            for m in channel.members.filter(status__in=CURRENT_MEMBER).select_related("user")
        }
        for user_pk, member in current.items():
            if user_pk not in wanted:
                remove_member(channel, member.user)
        for user_pk, user in wanted.items():
            if user_pk not in current:
                add_member(channel, user)


def rename_channel(channel: DmChannel, name: str) -> DmChannel:
    """Set the channel's custom name ('' clears it); applied on Whop by a worker."""
    name = clean_name(name)
    with transaction.atomic():
        channel = lock_live_channel(channel)
        if channel.custom_name != name:
            channel.custom_name = name
            channel.save(update_fields=["custom_name", "updated_at"])
            mark_due(channel)
    return channel


def delete_channel(channel: DmChannel) -> DmChannel:
    """Delete the channel here and on Whop (with all its messages). Raises if already deleted.

    If another key resolved to the same Whop DM (same member set), the Whop channel is kept
    for that key and only this row is deleted.
    """
    with transaction.atomic():
        channel = lock_live_channel(channel)
        channel.status = DmChannel.Status.DELETED
        channel.deleted_at = timezone.now()
        channel.save(update_fields=["status", "deleted_at", "updated_at"])
        mark_due(channel)
    logger.info(
        "dm channel %s (%s) marked for deletion",
        channel.pk,
        channel.whop_channel_id or "no Whop ID",
    )
    return channel


def reopen_dm(channel: DmChannel, members: Iterable[Any] | None = None) -> DmChannel:
    """Give the row a Whop DM of its own, with ``members`` (default: its current members);
    the old Whop DM is left as it is on Whop (not deleted: its members keep its history).

    For a row that resolved to a Whop DM another row also uses (Whop keeps one DM per member
    set): pass a member set only this row has (e.g. with an identity of its own). Whop returns
    the existing DM for an unchanged member set, so reopening cannot split two rows with the
    same members. Members change in the same transaction as the reopening, so a new member
    never joins the old DM. The row's outbox messages (sent or not) are posted again in the
    new DM; its key stays the same.
    """
    with transaction.atomic():
        if members is not None:
            set_members(channel, members)
        channel = lock_live_channel(channel)
        old = channel.whop_channel_id
        restart(
            channel.members.filter(status__in=CURRENT_MEMBER),
            status=DmMember.Status.PENDING,
            whop_member_id="",
            attempts=0,
            last_error="",
        )
        channel.members.filter(status=DmMember.Status.REMOVING).update(
            status=DmMember.Status.REMOVED, removed_at=timezone.now()
        )
        restart(
            channel.outbox.all(),
            status=DmOutboxMessage.Status.PENDING,
            whop_message_id="",
            attempts=0,
            last_error="",
        )
        channel.whop_channel_id, channel.whop_name = "", ""
        channel.status, channel.activated_at = DmChannel.Status.PENDING, None
        channel.needs_reconcile = False
        channel.save(
            update_fields=[
                "whop_channel_id",
                "whop_name",
                "status",
                "activated_at",
                "needs_reconcile",
                "updated_at",
            ]
        )
        mark_due(channel)
    logger.info("dm channel %s leaves Whop DM %s for a DM of its own", channel.pk, old or "-")
    return channel


def post_message(channel: DmChannel, content: str, *, dedupe_key: str = "") -> DmOutboxMessage:
    """Post ``content`` (Markdown) into the channel as the app, once per ``dedupe_key``."""
    content = (content or "").strip()
    if not content:
        raise InvalidDmRequest("A message needs some content.")
    if len(content) > 10_000:
        raise InvalidDmRequest("A message can be at most 10,000 characters.")
    dedupe_key = dedupe_key or "sha256:" + hashlib.sha256(content.encode()).hexdigest()[:40]
    if len(dedupe_key) > 200:
        raise InvalidDmRequest("dedupe_key can be at most 200 characters.")
    with transaction.atomic():
        channel = lock_live_channel(channel)
        message, created = DmOutboxMessage.objects.get_or_create(
            channel=channel, dedupe_key=dedupe_key, defaults={"content": content}
        )
        revived = message.status == DmOutboxMessage.Status.FAILED
        if revived:
            restart(
                DmOutboxMessage.objects.filter(pk=message.pk),
                status=DmOutboxMessage.Status.PENDING,
            )
            message.refresh_from_db()
        if created or revived:
            mark_due(channel)
    return message
