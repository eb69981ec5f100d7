"""Converging a channel with Whop: create it, apply members, name and outbox, or delete it.

``drive_channel`` is what a worker runs: it takes the row's lease, converges, and releases
the lease in the same statement that marks the work done, unless new work arrived meanwhile.

Exactly-once rules for Whop writes:

* ``POST /dm_channels`` is get-or-create on Whop's side, so repeating it after an ambiguous
  failure returns the same channel.
* Every other write (member add, message post) records an attempt *before* the call; when a
  row has an earlier attempt, the worker looks the object up on Whop before writing again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from django.db.models import Case, CharField, Exists, OuterRef, Q, Value, When
from django.utils import timezone
from whop_sdk.types import DmMemberListItem

from ... import signals
from ...exceptions import (
    EmailNotVerified,
    InvalidDmRequest,
    RowBusy,
)
from ...gateway import get_client
from ...models import DmChannel, DmMember, DmOutboxMessage, WhopUserLink
from ...ratelimit import RateLimitDeferred
from ...whop import WhopAdapter, WhopError, WhopNotFoundError
from ..identities import ensure_whop_user
from ..preferences import OUT_OF_SYNC, changes_for, whop_changes
from ..validation import CURRENT_MEMBER
from ..wording import describe_error
from .leases import claim, count_attempt, intent_key, is_due, release
from .reconcile import ReconcileReport, reconcile, whop_members
from .retry_policy import fail_channel, fail_row, record_whop_failure
from .scheduling import reschedule, send_on_commit

logger = logging.getLogger("dm_bridge")


UNVERIFIED_RECHECK_SECONDS = 300.0  # a channel waiting for a member's email confirmation


def drive_channel(channel_pk: int) -> str:
    """Converge one channel with Whop. Returns what happened (for logs and tests).

    ``busy`` another worker holds it · ``idle`` nothing due · ``done`` converged ·
    ``retrying`` / ``deferred`` rescheduled · ``failed`` stopped with a reason.
    """
    claimed = claim(DmChannel, channel_pk)
    if claimed is None:
        return "busy" if DmChannel.objects.filter(pk=channel_pk).exists() else "missing"
    return drive_claimed(*claimed)


def drive_claimed(channel: DmChannel, token: str) -> str:
    """``drive_channel`` for a row whose lease ``token`` this worker holds; releases it."""
    try:
        for _ in range(3):  # work requested while we ran is picked up before the lease is released
            if not is_due(channel):
                return "idle"
            run_started = timezone.now()
            _converge(channel)
            if finish([channel.pk], run_started, token):
                token = ""
                return "done"
            channel.refresh_from_db()
        return "done"
    except (RateLimitDeferred, RowBusy) as exc:
        reschedule(channel, exc.retry_after, count_failure=False)
        return "deferred"
    except WhopError as exc:
        return record_whop_failure(channel, exc)
    except EmailNotVerified:
        # Not a failure: the channel waits until every member has confirmed their address.
        reschedule(
            channel,
            UNVERIFIED_RECHECK_SECONDS,
            count_failure=False,
            error="Waiting for a member to confirm their email address before Whop is called.",
        )
        return "deferred"
    except InvalidDmRequest as exc:
        fail_channel(channel, str(exc))
        return "failed"
    finally:
        if token:
            release(channel, token)


def finish(pks: list[int], run_started: Any, token: str, unless: Any = None) -> int:
    """Mark the channels done and release their lease in one statement, except those given new
    work since ``run_started`` and those matching ``unless`` (they keep lease and due time).
    Returns how many were done."""
    rows = DmChannel.objects.filter(pk__in=pks, next_attempt_at__lte=run_started, lease_token=token)
    if unless is not None:
        rows = rows.exclude(unless)
    return rows.update(
        next_attempt_at=None, failures=0, waiting_since=None, lease_until=None, lease_token=""
    )


def _converge(channel: DmChannel) -> None:
    client = get_client()
    if channel.status == DmChannel.Status.DELETED:
        _delete_on_whop(client, channel)
        return
    if channel.status == DmChannel.Status.FAILED:
        return
    if not channel.whop_channel_id:
        _create_on_whop(client, channel)
    if channel.needs_reconcile and channel.whop_channel_id:
        reconcile(client, channel, ReconcileReport(channel.pk))
        DmChannel.objects.filter(pk=channel.pk).update(needs_reconcile=False)
        channel.needs_reconcile = False
    members = _members_with_work(channel)
    _apply_members(client, channel, members)
    _apply_preferences(client, channel, [m for m in members if m.status == DmMember.Status.ACTIVE])
    _apply_name(client, channel)
    _send_outbox(client, channel)


def _create_on_whop(client: WhopAdapter, channel: DmChannel) -> None:
    members = current_members([channel]).get(channel.pk, [])
    if not members:
        raise InvalidDmRequest(
            "This DM has no members left; add one before it can be created on Whop."
        )
    result = create_call(
        client, channel, members, before_send=lambda: count_attempt(channel, intent=True)
    )
    record_created([(channel, members, result)])


def current_members(channels: list[DmChannel]) -> dict[int, list[DmMember]]:
    """The current members of each of ``channels`` (by channel pk, in pk order), with their
    users' Whop links: one query for any number of channels."""
    by_channel: dict[int, list[DmMember]] = {}
    rows = (
        DmMember.objects.filter(channel__in=channels, status__in=CURRENT_MEMBER)
        .select_related("user__whop_link")
        .order_by("pk")
    )
    for member in rows:
        by_channel.setdefault(member.channel_id, []).append(member)
    return by_channel


def create_call(
    client: WhopAdapter,
    channel: DmChannel,
    members: list[DmMember],
    before_send: Callable[[], None] | None = None,
) -> Any:
    """``POST /dm_channels`` for ``channel`` with ``members`` (get-or-create on Whop's side;
    the same ``Idempotency-Key`` on every retry of the same member set)."""
    whop_ids = [_linked(m.user).whop_user_id or "" for m in members]
    return client.dm_channels.create(
        with_user_ids=whop_ids,
        account_id=channel.company_id,
        **({"custom_name": channel.custom_name} if channel.custom_name else {}),
        before_send=before_send,
        idempotency_key=intent_key("dm_channels.create", channel, *sorted(whop_ids)),
    )


def record_created(created: list[tuple[DmChannel, list[DmMember], Any]]) -> None:
    """Store what Whop answered to the creates of ``created`` (channel, its members, Whop's
    channel): pending -> active, members active. A handful of statements for any number of
    channels, so a batch (``batches.drive_channels``) costs about what one channel does."""
    now = timezone.now()
    channels = {channel.pk: channel for channel, _, _ in created}
    answers = {channel.pk: (result.id, result.name or "") for channel, _, result in created}

    def per_row(index: int) -> Any:  # the column's value for each row, in one statement
        return Case(
            *(When(pk=pk, then=Value(answer[index])) for pk, answer in answers.items()),
            output_field=CharField(),
        )

    found: dict[str, Any] = {
        "whop_channel_id": per_row(0),
        "whop_name": per_row(1),
        "needs_reconcile": False,
        "last_error": "",
    }
    # Pending -> active in the same statement; a row deleted meanwhile keeps its status.
    activated = DmChannel.objects.filter(pk__in=channels, status=DmChannel.Status.PENDING).update(
        **found, status=DmChannel.Status.ACTIVE, activated_at=now
    )
    became_active = set(channels)
    if activated < len(channels):
        became_active = set(
            DmChannel.objects.filter(
                pk__in=channels, status=DmChannel.Status.ACTIVE, activated_at=now
            ).values_list("pk", flat=True)
        )
        DmChannel.objects.filter(pk__in=set(channels) - became_active).update(**found)
    for pk, channel in channels.items():
        if pk not in became_active:
            channel.refresh_from_db()
            continue
        channel.whop_channel_id, channel.whop_name = answers[pk]
        channel.needs_reconcile, channel.last_error = False, ""
        channel.status, channel.activated_at = DmChannel.Status.ACTIVE, now
    DmMember.objects.filter(pk__in=[m.pk for _, members, _ in created for m in members]).update(
        status=DmMember.Status.ACTIVE,
        added_at=now,
        last_error="",
        # New member records on Whop: their preferences are Whop's defaults until applied.
        whop_notification_preference="",
        whop_member_status="",
    )
    holders: dict[str, list[tuple[int, str]]] = {}
    live = DmChannel.objects.filter(whop_channel_id__in={a[0] for a in answers.values()}).exclude(
        status=DmChannel.Status.DELETED
    )
    for pk, key, whop_id in live.values_list("pk", "key", "whop_channel_id"):
        holders.setdefault(whop_id, []).append((pk, key))
    for pk, channel in channels.items():
        whop_id = answers[pk][0]
        if shared := [key for other, key in holders.get(whop_id, []) if other != pk]:
            # Whop keeps one DM per member set: the keys share it (see README, "Shared DMs").
            logger.warning(
                "dm channel %s (key %r) resolved to Whop DM %s, already used by key(s) %s: "
                "they share it",
                pk,
                channel.key,
                whop_id,
                ", ".join(map(repr, shared)),
            )
        logger.info("dm channel %s is active as %s", pk, whop_id)
        if pk in became_active:
            send_on_commit(signals.dm_channel_ready, DmChannel, channel=channel)


def _members_with_work(channel: DmChannel) -> list[DmMember]:
    """Members to add or remove, and active ones whose mute/archive Whop does not reflect.

    Usually none (a fresh channel's run ends here), so the channel's few member states are
    read as bare values first — cheap to ask for — and rows are loaded only for those.
    """
    states = channel.members.values_list(
        "pk", "status", "muted", "archived", "whop_notification_preference", "whop_member_status"
    )
    keys = [
        pk
        for pk, status, muted, archived, preference, member_status in states
        if status in (DmMember.Status.PENDING, DmMember.Status.REMOVING)
        or (
            status == DmMember.Status.ACTIVE
            and changes_for(muted, archived, preference, member_status)
        )
    ]
    if not keys:
        return []
    return list(
        DmMember.objects.filter(pk__in=keys).select_related("user__whop_link").order_by("pk")
    )


# The same question as ``_members_with_work`` asked in SQL, for many channels at once.
MEMBER_WORK = Q(status__in=(DmMember.Status.PENDING, DmMember.Status.REMOVING)) | (
    Q(status=DmMember.Status.ACTIVE) & OUT_OF_SYNC
)


def finish_created(channels: list[DmChannel], run_started: Any, token: str) -> tuple[int, set[int]]:
    """``finish`` those of ``channels`` (just created) that have no more to do than the create
    (a member to add, remove or sync, a name, a message, a delete), in one statement that asks
    and finishes at once. Returns how many were done and the pks of those still leased to
    ``token``, with more to do (``finish``'s new work included)."""
    more = {
        c.pk
        for c in channels
        if c.status != DmChannel.Status.ACTIVE or c.custom_name != c.whop_name
    }
    idle = [c.pk for c in channels if c.pk not in more]
    if not idle:
        return 0, more
    members = DmMember.objects.filter(MEMBER_WORK, channel=OuterRef("pk"))
    outbox = DmOutboxMessage.objects.filter(
        channel=OuterRef("pk"), status=DmOutboxMessage.Status.PENDING
    )
    done = finish(idle, run_started, token, unless=Exists(members) | Exists(outbox))
    if done < len(idle):  # the rest kept the lease: they have work (or lost it: not ours)
        more |= set(
            DmChannel.objects.filter(pk__in=idle, lease_token=token).values_list("pk", flat=True)
        )
    return done, more


def _apply_members(client: WhopAdapter, channel: DmChannel, members: list[DmMember]) -> None:
    """Add the pending ``members`` on Whop and remove the removing ones (others are skipped);
    a member added here is ``active`` afterwards, with Whop's record of it."""
    changing = [
        m for m in members if m.status in (DmMember.Status.PENDING, DmMember.Status.REMOVING)
    ]
    for member in (m for m in changing if m.status == DmMember.Status.PENDING):
        link = _linked(member.user)
        existing = (
            _find_whop_member(client, channel, link.whop_user_id) if member.attempts else None
        )
        if existing is None:
            try:
                existing = client.dm_members.create(
                    channel_id=channel.whop_channel_id,
                    user_id=link.whop_user_id,
                    before_send=lambda m=member: count_attempt(m),
                    idempotency_key=intent_key(
                        "dm_members.create", member, channel.whop_channel_id, member.removed_at
                    ),
                )
            except WhopError as exc:
                if exc.retryable:
                    raise
                fail_row(member, describe_error(exc))
                logger.warning(
                    "dm member %s could not be added to %s: %s",
                    member.pk,
                    channel.whop_channel_id,
                    exc,
                )
                continue
        member.whop_member_id = existing.id
        member.whop_member_status = existing.status or ""
        # A list item (found after an ambiguous add) has no notification_preference.
        member.whop_notification_preference = getattr(existing, "notification_preference", "")
        member.status = DmMember.Status.ACTIVE
        member.added_at = timezone.now()
        _save_reached(member)
        send_on_commit(
            signals.dm_member_added, DmMember, channel=channel, member=member, user=member.user
        )

    for member in (m for m in changing if m.status == DmMember.Status.REMOVING):
        if not member.whop_member_id:
            known = WhopUserLink.objects.filter(user=member.user).first()
            found = (
                _find_whop_member(client, channel, known.whop_user_id)
                if known and known.whop_user_id
                else None
            )
            member.whop_member_id = found.id if found else ""
        if member.whop_member_id:
            with contextlib.suppress(WhopNotFoundError):  # already gone: the goal is reached
                client.dm_members.delete(
                    member.whop_member_id, before_send=lambda m=member: count_attempt(m)
                )
        member.status = DmMember.Status.REMOVED
        member.removed_at = timezone.now()
        member.save()
        send_on_commit(
            signals.dm_member_removed, DmMember, channel=channel, member=member, user=member.user
        )


def _apply_preferences(client: WhopAdapter, channel: DmChannel, active: list[DmMember]) -> None:
    """Mute/archive (``services.preferences``) where Whop's member record contradicts them,
    for the ``active`` members (those in sync are skipped).

    ``dm_members.update`` sets values, so repeating it is harmless; only the ``whop_*``
    columns are written, so a preference changed meanwhile is applied on the next run.
    """
    members = [m for m in active if whop_changes(m)]  # ``preferences.OUT_OF_SYNC``, in Python
    remote: dict[str | None, DmMemberListItem] | None = None
    for member in members:
        found: dict[str, Any] = {}
        if not member.whop_member_id:  # added with the channel: Whop's ID not learnt yet
            if remote is None:
                remote = {m.user_id: m for m in whop_members(client, channel)}
            on_whop = remote.get(_linked(member.user).whop_user_id)
            if on_whop is None:
                continue  # not on Whop: reconciling re-adds it
            member.whop_member_id, member.whop_member_status = on_whop.id, on_whop.status
            found = {"whop_member_id": on_whop.id, "whop_member_status": on_whop.status}
        changes = whop_changes(member)
        if changes:
            try:
                result = client.dm_members.update(member.whop_member_id, **changes)
            except WhopError as exc:
                if exc.retryable:
                    raise
                DmMember.objects.filter(pk=member.pk).update(
                    **found, last_error=describe_error(exc), last_error_at=timezone.now()
                )
                continue
            found = {
                "whop_member_id": result.id,
                "whop_member_status": result.status,
                "whop_notification_preference": result.notification_preference,
                "last_error": "",
            }
        if found:
            # Rows of other keys on the same Whop DM share this Whop member record.
            DmMember.objects.filter(
                user_id=member.user_id, channel__whop_channel_id=channel.whop_channel_id
            ).update(**found)


def _apply_name(client: WhopAdapter, channel: DmChannel) -> None:
    if channel.custom_name == channel.whop_name:
        return
    try:
        result = client.dm_channels.update(
            channel.whop_channel_id, custom_name=channel.custom_name or None
        )
    except WhopError as exc:
        if exc.retryable:
            raise
        DmChannel.objects.filter(pk=channel.pk).update(
            last_error=describe_error(exc), last_error_at=timezone.now()
        )
        return
    channel.whop_name = result.name or ""
    DmChannel.objects.filter(pk=channel.pk).update(whop_name=channel.whop_name)


def _send_outbox(client: WhopAdapter, channel: DmChannel) -> None:
    for message in channel.outbox.filter(status=DmOutboxMessage.Status.PENDING).order_by("pk"):
        found = _find_posted_message(client, channel, message) if message.attempts else None
        if found is None:
            try:
                found = client.messages.create(
                    channel_id=channel.whop_channel_id,
                    content=message.content,
                    before_send=lambda m=message: count_attempt(m),
                    idempotency_key=intent_key("messages.create", message),
                )
            except WhopError as exc:
                if exc.retryable:
                    raise
                fail_row(message, describe_error(exc))
                continue
        message.whop_message_id = found.id
        message.status = DmOutboxMessage.Status.SENT
        message.sent_at = timezone.now()
        _save_reached(message)


def _delete_on_whop(client: WhopAdapter, channel: DmChannel) -> None:
    if channel.deleted_on_whop:
        return
    if not channel.whop_channel_id and channel.needs_reconcile:
        # A create may have reached Whop without us learning its ID: get-or-create finds it.
        _create_on_whop_for_delete(client, channel)
    if channel.whop_channel_id:
        still_used = (
            DmChannel.objects.filter(whop_channel_id=channel.whop_channel_id)
            .exclude(pk=channel.pk)
            .exclude(status=DmChannel.Status.DELETED)
            .exists()
        )
        if still_used:
            logger.info(
                "dm channel %s deleted here; Whop DM %s kept for another key",
                channel.pk,
                channel.whop_channel_id,
            )
        else:
            with contextlib.suppress(WhopNotFoundError):
                client.dm_channels.delete(
                    channel.whop_channel_id, before_send=lambda: count_attempt(channel)
                )
            logger.info("dm channel %s deleted on Whop (%s)", channel.pk, channel.whop_channel_id)
    DmChannel.objects.filter(pk=channel.pk).update(deleted_on_whop=True)


def _create_on_whop_for_delete(client: WhopAdapter, channel: DmChannel) -> None:
    links = WhopUserLink.objects.filter(
        user__dm_memberships__channel=channel,
        user__dm_memberships__status__in=CURRENT_MEMBER,
        whop_user_id__isnull=False,
    ).values_list("whop_user_id", flat=True)
    if links:
        result = client.dm_channels.create(with_user_ids=list(links), account_id=channel.company_id)
        channel.whop_channel_id = result.id
        DmChannel.objects.filter(pk=channel.pk).update(whop_channel_id=result.id)


# A member's own state, written by requests and webhooks while a worker may hold the row.
MEMBER_OWN_FIELDS = frozenset({"muted", "archived", "archived_at", "unread_count", "last_read_at"})


def _save_reached(row: DmMember | DmOutboxMessage) -> None:
    """Save a row whose goal was just reached: its failure streak is over."""
    row.failures = 0
    row.last_error = ""
    if isinstance(row, DmMember):  # never write back a mute or unread count read before the call
        row.save(
            update_fields=[
                f.name
                for f in DmMember._meta.concrete_fields
                if not f.primary_key and f.name not in MEMBER_OWN_FIELDS
            ]
        )
        return
    row.save()


def _linked(user: Any) -> WhopUserLink:
    """The user's active Whop link: the preloaded one if there is one, else provision it now."""
    link: WhopUserLink | None
    try:
        link = user.whop_link
    except WhopUserLink.DoesNotExist:
        link = None
    if link is not None and link.status == WhopUserLink.Status.ACTIVE and link.whop_user_id:
        return link
    return ensure_whop_user(user)


def _find_whop_member(
    client: WhopAdapter, channel: DmChannel, whop_user_id: str | None
) -> DmMemberListItem | None:
    for remote in whop_members(client, channel):
        if remote.user_id == whop_user_id:
            return remote
    return None


def _find_posted_message(client: WhopAdapter, channel: DmChannel, message: DmOutboxMessage) -> Any:
    page = client.messages.list(channel_id=channel.whop_channel_id, direction="desc", first=50)
    for remote in page.items or []:
        if remote.content == message.content and remote.message_type != "regular":
            return remote
    return None
