"""dm_bridge's workflows. Views, tasks, admin actions and commands call these; nothing else
talks to Whop on behalf of a use case.

Two halves:

* **Requests** (``open_dm``, ``add_member``, ``remove_member``, ``set_members``,
  ``rename_channel``, ``delete_channel``, ``reopen_dm``, ``post_message``, ``retry``): validate, write the
  desired state in one transaction, and enqueue the work on commit. They never call Whop, so
  a web request stays fast and nothing is half-written when Whop is down.
* **Work** (``drive_channel``, ``drive_user_link``, ``ensure_whop_user``, ``reconcile_channel``,
  ``sweep``): run by workers. A worker first takes a lease on the row (so two workers never
  work on the same channel), then converges Whop to the row.

Exactly-once rules for Whop writes:

* ``POST /dm_channels`` is get-or-create on Whop's side, so repeating it after an ambiguous
  failure returns the same channel.
* Every other write (connected account, member add, message post) records an attempt *before*
  the call; when a row has an earlier attempt, the worker looks the object up on Whop before
  writing again. A crash, a timeout or a 500 after commit therefore never duplicates it.
* Every create also carries an ``Idempotency-Key`` derived from the row's intent (the same on
  every retry, new for a new intent). Whop does not document it for chat, so nothing relies
  on it; it is free where Whop honours it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from whop_sdk.types import Account, DmMemberListItem

from . import signals
from .conf import dm_bridge_settings
from .exceptions import (
    ChannelDeletedError,
    DmBridgeConfigurationError,
    DmBridgeError,
    EmailNotVerified,
    InvalidDmRequest,
    MemberLimitExceeded,
    RowBusy,
    UserNotProvisionable,
)
from .gateway import get_client
from .models import DmChannel, DmMember, DmOutboxMessage, WhopUserLink, WorkState
from .ratelimit import RateLimitDeferred
from .whop import WhopAdapter, WhopError, WhopNotFoundError

logger = logging.getLogger("dm_bridge")

Row = TypeVar("Row", bound=WorkState)
CURRENT_MEMBER = (DmMember.Status.PENDING, DmMember.Status.ACTIVE, DmMember.Status.FAILED)
UNVERIFIED_EMAIL = "Confirm your email address to use messages."
UNVERIFIED_RECHECK_SECONDS = 300.0  # a channel waiting for a member's email confirmation


# ==============================================================================================
# Requests (web side): validate, record desired state, enqueue on commit
# ==============================================================================================


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
    ``ChannelDeletedError`` (the key's channel was deleted) before writing anything.
    """
    key = _clean_key(key)
    custom_name = _clean_name(custom_name)
    members = _clean_users(users)
    company = _company(company_id)
    if requester is not None:
        _require_saved_user(requester)
    if len(members) > _max_members():
        raise MemberLimitExceeded(
            f"A DM can have at most {_max_members()} members; {len(members)} were given."
        )
    _require_provisionable(members)

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
            _enqueue_channel(channel.pk)
        elif channel.status == DmChannel.Status.FAILED:
            _revive_channel(channel)  # the user asked again: a failure is never final for them
        if context_message:
            post_message(channel, context_message, dedupe_key=context_key)
    return channel


def add_member(channel: DmChannel, user: Any) -> DmMember:
    """Make ``user`` a member (idempotent). Enforces the member cap before any Whop call."""
    _require_saved_user(user)
    with transaction.atomic():
        channel = _lock_live_channel(channel)
        member = DmMember.objects.filter(channel=channel, user=user).first()
        if member and member.status == DmMember.Status.FAILED:
            _restart(DmMember.objects.filter(pk=member.pk), status=DmMember.Status.PENDING)
            member.refresh_from_db()
            _mark_due(channel)
            return member
        if member and member.status in CURRENT_MEMBER:
            return member
        if channel.members.filter(status__in=CURRENT_MEMBER).count() >= _max_members():
            raise MemberLimitExceeded(
                f"This DM already has {_max_members()} members, Whop's maximum; remove someone first."
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
        _mark_due(channel)
    return member


def remove_member(channel: DmChannel, user: Any) -> DmMember | None:
    """Take ``user`` out of the channel (idempotent; returns None if they were not a member).

    On Whop the removal is applied by a worker; from then on their chat token cannot read it.
    """
    _require_saved_user(user)
    with transaction.atomic():
        channel = _lock_live_channel(channel)
        member = DmMember.objects.filter(
            channel=channel, user=user, status__in=CURRENT_MEMBER
        ).first()
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
        _mark_due(channel)
    return member


def set_members(channel: DmChannel, users: Iterable[Any]) -> None:
    """Make the channel's members exactly ``users`` (adds and removes as needed, cap checked first)."""
    wanted = {u.pk: u for u in _clean_users(users)}
    if len(wanted) > _max_members():
        raise MemberLimitExceeded(
            f"A DM can have at most {_max_members()} members; {len(wanted)} were given."
        )
    with transaction.atomic():
        channel = _lock_live_channel(channel)
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
    name = _clean_name(name)
    with transaction.atomic():
        channel = _lock_live_channel(channel)
        if channel.custom_name != name:
            channel.custom_name = name
            channel.save(update_fields=["custom_name", "updated_at"])
            _mark_due(channel)
    return channel


def delete_channel(channel: DmChannel) -> DmChannel:
    """Delete the channel here and on Whop (with all its messages). Raises if already deleted.

    If another key resolved to the same Whop DM (same member set), the Whop channel is kept
    for that key and only this row is deleted.
    """
    with transaction.atomic():
        channel = _lock_live_channel(channel)
        channel.status = DmChannel.Status.DELETED
        channel.deleted_at = timezone.now()
        channel.save(update_fields=["status", "deleted_at", "updated_at"])
        _mark_due(channel)
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
        channel = _lock_live_channel(channel)
        old = channel.whop_channel_id
        _restart(
            channel.members.filter(status__in=CURRENT_MEMBER),
            status=DmMember.Status.PENDING,
            whop_member_id="",
            attempts=0,
            last_error="",
        )
        channel.members.filter(status=DmMember.Status.REMOVING).update(
            status=DmMember.Status.REMOVED, removed_at=timezone.now()
        )
        _restart(
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
        _mark_due(channel)
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
        channel = _lock_live_channel(channel)
        message, created = DmOutboxMessage.objects.get_or_create(
            channel=channel, dedupe_key=dedupe_key, defaults={"content": content}
        )
        revived = message.status == DmOutboxMessage.Status.FAILED
        if revived:
            _restart(
                DmOutboxMessage.objects.filter(pk=message.pk),
                status=DmOutboxMessage.Status.PENDING,
            )
            message.refresh_from_db()
        if created or revived:
            _mark_due(channel)
    return message


def enqueue_user_sync(users: Iterable[Any]) -> int:
    """Queue Whop provisioning for users without an active link (bulk sync via workers).

    Returns how many were queued. Already-linked users are skipped, so calling it again
    resumes where an earlier run stopped.
    """
    queued = 0
    for user in users:
        with transaction.atomic():
            link, _ = WhopUserLink.objects.get_or_create(user=user)
            if link.status == WhopUserLink.Status.ACTIVE:
                continue
            _restart(
                WhopUserLink.objects.filter(pk=link.pk),
                status=WhopUserLink.Status.PENDING,
                next_attempt_at=timezone.now(),
            )
            _enqueue_user_link(link.pk)
            queued += 1
    return queued


def retry(row: DmChannel | WhopUserLink) -> None:
    """Admin "retry now": clear the failure state and run the work again immediately."""
    with transaction.atomic():
        row = type(row).objects.select_for_update().get(pk=row.pk)
        if isinstance(row, DmChannel):
            _revive_channel(row)
            return
        if row.status == WhopUserLink.Status.ACTIVE:
            return  # already linked: nothing to retry
        _restart(
            WhopUserLink.objects.filter(pk=row.pk),
            status=WhopUserLink.Status.PENDING,
            next_attempt_at=timezone.now(),
        )
        _enqueue_user_link(row.pk)


# ==============================================================================================
# Work (worker side)
# ==============================================================================================


def drive_channel(channel_pk: int) -> str:
    """Converge one channel with Whop. Returns what happened (for logs and tests).

    ``busy`` another worker holds it · ``idle`` nothing due · ``done`` converged ·
    ``retrying`` / ``deferred`` rescheduled · ``failed`` stopped with a reason.
    """
    claimed = _claim(DmChannel, channel_pk)
    if claimed is None:
        return "busy" if DmChannel.objects.filter(pk=channel_pk).exists() else "missing"
    channel, token = claimed
    try:
        for _ in range(3):  # work requested while we ran is picked up before the lease is released
            if not _is_due(channel):
                return "idle"
            run_started = timezone.now()
            _converge(channel)
            # Done and released in one statement, unless new work arrived meanwhile.
            done = DmChannel.objects.filter(
                pk=channel.pk, next_attempt_at__lte=run_started, lease_token=token
            ).update(
                next_attempt_at=None,
                failures=0,
                waiting_since=None,
                lease_until=None,
                lease_token="",
            )
            if done:
                token = ""
                return "done"
            channel.refresh_from_db()
        return "done"
    except (RateLimitDeferred, RowBusy) as exc:
        _reschedule(channel, exc.retry_after, count_failure=False)
        return "deferred"
    except WhopError as exc:
        return _record_whop_failure(channel, exc)
    except EmailNotVerified:
        # Not a failure: the channel waits until every member has confirmed their address.
        _reschedule(
            channel,
            UNVERIFIED_RECHECK_SECONDS,
            count_failure=False,
            error="Waiting for a member to confirm their email address before Whop is called.",
        )
        return "deferred"
    except InvalidDmRequest as exc:
        _fail_channel(channel, str(exc))
        return "failed"
    finally:
        if token:
            _release(channel, token)


def drive_user_link(link_pk: int) -> str:
    """Provision one user link (bulk sync); same outcomes as ``drive_channel``."""
    link = WhopUserLink.objects.select_related("user").filter(pk=link_pk).first()
    if link is None:
        return "missing"
    if link.status != WhopUserLink.Status.PENDING:
        return "idle"
    try:
        ensure_whop_user(link.user)
        return "done"
    except RowBusy:
        return "busy"
    except RateLimitDeferred as exc:
        _reschedule(link, exc.retry_after, count_failure=False)
        return "deferred"
    except EmailNotVerified as exc:
        _fail_row(link, str(exc))  # bulk sync reports it; the user's first chat retries it
        return "failed"
    except WhopError:
        link.refresh_from_db()
        return "failed" if link.status == WhopUserLink.Status.FAILED else "retrying"
    except InvalidDmRequest:
        return "failed"


def ensure_whop_user(user: Any) -> WhopUserLink:
    """The user's active Whop link, provisioning it first if needed (exactly once per user).

    Provisioning enrols the user as a connected account under ``COMPANY_ID`` (the API key's
    account) with ``metadata.external_id`` and then sets their per-company display name. After an
    ambiguous failure the account is looked up by that marker before creating again.

    Only a user whose email the site has verified (``USER_ADAPTER.has_verified_email``) is
    provisioned: Whop makes the owner of an existing Whop account with that email the user of
    the connected account, so an unverified address would hand over someone else's DMs.

    Raises ``EmailNotVerified`` (nothing written, no Whop call; fine again once verified),
    ``UserNotProvisionable`` (permanent, e.g. no email), ``RowBusy`` (another worker is
    provisioning this user), ``WhopError`` (recorded on the link; retried by the caller).
    """
    _require_saved_user(user)
    link = WhopUserLink.objects.filter(user=user).first()
    if link is not None and link.status == WhopUserLink.Status.ACTIVE and link.whop_user_id:
        return link
    adapter = dm_bridge_settings.USER_ADAPTER()
    if adapter.get_email(user) and not adapter.has_verified_email(user):
        raise EmailNotVerified(UNVERIFIED_EMAIL)  # (no email at all: _provision says so)
    if link is None:
        link, _ = WhopUserLink.objects.get_or_create(
            user=user, defaults={"next_attempt_at": timezone.now()}
        )
    claimed = _claim(WhopUserLink, link.pk)
    if claimed is None:
        raise RowBusy(f"Whop user link {link.pk}")
    link, token = claimed
    try:
        _provision(get_client(), link)
        return link
    except UserNotProvisionable as exc:
        _fail_row(link, str(exc))
        raise
    except WhopError as exc:
        reason = _give_up_reason(link, exc)  # the same horizon as channels
        if reason is None:
            _reschedule(
                link,
                _retry_delay(link.failures + 1, exc),
                count_failure=True,
                error=describe_error(exc),
            )
        else:
            _fail_row(link, reason)
        raise
    finally:
        _release(link, token)


@dataclass
class ReconcileReport:
    channel_id: int
    changes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(self.changes) or "in sync"


def reconcile_channel(channel: DmChannel) -> ReconcileReport:
    """Compare a channel with Whop (existence, members, name) and queue whatever repairs it.

    Local rows are the truth: members missing on Whop are re-added, members removed here but
    present there are removed again, a channel deleted on Whop is recreated.
    """
    report = ReconcileReport(channel.pk)
    claimed = _claim(DmChannel, channel.pk)
    if claimed is None:
        raise RowBusy(f"DM channel {channel.pk}")
    channel, token = claimed
    try:
        if channel.status == DmChannel.Status.DELETED or not channel.whop_channel_id:
            report.changes.append(
                "not on Whop yet" if not channel.whop_channel_id else "deleted here"
            )
            return report
        _reconcile(get_client(), channel, report)
        logger.info("dm channel %s reconciled: %s", channel.pk, report)
    finally:
        _release(channel, token)
    if report.changes:
        _mark_due(channel)  # after releasing the lease, so the repair can start at once
    return report


def sweep(limit: int = 500) -> dict[str, int]:
    """Re-enqueue rows whose work is due and unclaimed: retries whose time has come, and work
    lost to a killed worker, a broker outage at commit time or a redeploy."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    channels = list(
        DmChannel.objects.filter(free, next_attempt_at__lte=now)
        .exclude(status=DmChannel.Status.FAILED)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    links = list(
        WhopUserLink.objects.filter(
            free, next_attempt_at__lte=now, status=WhopUserLink.Status.PENDING
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in channels:
        _send_task("drive_channel", pk)
    for pk in links:
        _send_task("drive_user_link", pk)
    if channels or links:
        logger.info("sweeper re-enqueued %d channels and %d user links", len(channels), len(links))
    return {"channels": len(channels), "user_links": len(links)}


def describe_error(exc: BaseException) -> str:
    """An admin-readable reason for a failure, with what to do about it."""
    if isinstance(exc, WhopError):
        status = exc.status
        said = exc.message.rstrip(". ")  # Whop's own text, without its final full stop
        if status == 401:
            return (
                f"Whop rejected the API key ({said}). Check DM_BRIDGE['API_KEY'] and that "
                "BASE_URL is the key's environment (production vs sandbox)."
            )
        if status == 403:
            return f"The API key lacks a permission for this call: {said}. Grant it on Whop, then retry."
        if status == 404:
            return f"Whop does not know this object: {said}."
        if status in (400, 422):
            return f"Whop refused the request as invalid: {said}."
        # What happened only: whether it is retried shows in status and "waiting for Whop since".
        if status == 408:
            return f"Whop timed out waiting for the request ({said})."
        if status == 409:
            return f"Whop reported a conflict with the object's current state: {said}."
        if status == 429:
            return f"Rate limited by Whop (asked to wait {exc.retry_after or 1:.0f}s)."
        if status and status >= 500:
            return f"Whop had a server error ({status}: {said})."
        if exc.ambiguous:
            return (
                f"Whop did not answer in time ({said}); the call may have gone through, "
                "so a retry first looks for its result on Whop."
            )
        return f"Could not reach Whop: {said}."
    return str(exc)


# ==============================================================================================
# Internals: converging a channel
# ==============================================================================================


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
        _reconcile(client, channel, ReconcileReport(channel.pk))
        DmChannel.objects.filter(pk=channel.pk).update(needs_reconcile=False)
        channel.needs_reconcile = False
    _apply_members(client, channel)
    _apply_name(client, channel)
    _send_outbox(client, channel)


def _create_on_whop(client: WhopAdapter, channel: DmChannel) -> None:
    members = list(
        channel.members.filter(status__in=CURRENT_MEMBER)
        .select_related("user__whop_link")
        .order_by("pk")
    )
    if not members:
        raise InvalidDmRequest(
            "This DM has no members left; add one before it can be created on Whop."
        )
    whop_ids = [_linked(m.user).whop_user_id or "" for m in members]
    result = client.dm_channels.create(
        with_user_ids=whop_ids,
        account_id=channel.company_id,
        **({"custom_name": channel.custom_name} if channel.custom_name else {}),
        before_send=lambda: _count_attempt(channel, intent=True),
        idempotency_key=intent_key("dm_channels.create", channel, *sorted(whop_ids)),
    )
    now = timezone.now()
    found = {"whop_channel_id": result.id, "whop_name": result.name or "", "needs_reconcile": False}
    # Pending -> active in the same statement; a row deleted meanwhile keeps its status.
    became_active = DmChannel.objects.filter(pk=channel.pk, status=DmChannel.Status.PENDING).update(
        **found, last_error="", status=DmChannel.Status.ACTIVE, activated_at=now
    )
    if not became_active:
        DmChannel.objects.filter(pk=channel.pk).update(**found, last_error="")
        channel.refresh_from_db()
    else:
        for name, value in found.items():
            setattr(channel, name, value)
        channel.status, channel.activated_at, channel.last_error = DmChannel.Status.ACTIVE, now, ""
    DmMember.objects.filter(pk__in=[m.pk for m in members]).update(
        status=DmMember.Status.ACTIVE, added_at=now, last_error=""
    )
    shared = (
        DmChannel.objects.filter(whop_channel_id=result.id)
        .exclude(pk=channel.pk)
        .exclude(status=DmChannel.Status.DELETED)
        .values_list("key", flat=True)
    )
    if shared:
        # Whop keeps one DM per member set: both keys now share it (see README, "Shared DMs").
        logger.warning(
            "dm channel %s (key %r) resolved to Whop DM %s, already used by key(s) %s: they share it",
            channel.pk,
            channel.key,
            result.id,
            ", ".join(map(repr, shared)),
        )
    logger.info("dm channel %s is active as %s", channel.pk, result.id)
    if became_active:
        _send_on_commit(signals.dm_channel_ready, DmChannel, channel=channel)


def _apply_members(client: WhopAdapter, channel: DmChannel) -> None:
    changing = list(
        channel.members.filter(status__in=(DmMember.Status.PENDING, DmMember.Status.REMOVING))
        .select_related("user__whop_link")
        .order_by("pk")
    )
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
                    before_send=lambda m=member: _count_attempt(m),
                    idempotency_key=intent_key(
                        "dm_members.create", member, channel.whop_channel_id, member.removed_at
                    ),
                )
            except WhopError as exc:
                if exc.retryable:
                    raise
                _fail_row(member, describe_error(exc))
                logger.warning(
                    "dm member %s could not be added to %s: %s",
                    member.pk,
                    channel.whop_channel_id,
                    exc,
                )
                continue
        member.whop_member_id = existing.id
        member.status = DmMember.Status.ACTIVE
        member.added_at = timezone.now()
        member.failures = 0
        member.last_error = ""
        member.save()
        _send_on_commit(
            signals.dm_member_added, DmMember, channel=channel, member=member, user=member.user
        )

    for member in (m for m in changing if m.status == DmMember.Status.REMOVING):
        if not member.whop_member_id:
            link = WhopUserLink.objects.filter(user=member.user).first()
            found = (
                _find_whop_member(client, channel, link.whop_user_id)
                if link and link.whop_user_id
                else None
            )
            member.whop_member_id = found.id if found else ""
        if member.whop_member_id:
            with contextlib.suppress(WhopNotFoundError):  # already gone: the goal is reached
                client.dm_members.delete(
                    member.whop_member_id, before_send=lambda m=member: _count_attempt(m)
                )
        member.status = DmMember.Status.REMOVED
        member.removed_at = timezone.now()
        member.save()
        _send_on_commit(
            signals.dm_member_removed, DmMember, channel=channel, member=member, user=member.user
        )


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
                    before_send=lambda m=message: _count_attempt(m),
                    idempotency_key=intent_key("messages.create", message),
                )
            except WhopError as exc:
                if exc.retryable:
                    raise
                _fail_row(message, describe_error(exc))
                continue
        message.whop_message_id = found.id
        message.status = DmOutboxMessage.Status.SENT
        message.sent_at = timezone.now()
        message.failures = 0
        message.last_error = ""
        message.save()


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
                    channel.whop_channel_id, before_send=lambda: _count_attempt(channel)
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


def _reconcile(client: WhopAdapter, channel: DmChannel, report: ReconcileReport) -> None:
    try:
        remote = client.dm_channels.retrieve(channel.whop_channel_id)
    except WhopNotFoundError:
        report.changes.append(f"{channel.whop_channel_id} is gone on Whop; it will be recreated")
        DmChannel.objects.filter(pk=channel.pk).update(
            whop_channel_id="", whop_name="", status=DmChannel.Status.PENDING
        )
        channel.members.filter(status=DmMember.Status.ACTIVE).update(
            status=DmMember.Status.PENDING, whop_member_id=""
        )
        channel.members.filter(status=DmMember.Status.REMOVING).update(
            status=DmMember.Status.REMOVED
        )
        channel.refresh_from_db()
        return
    if (remote.name or "") != channel.whop_name:
        report.changes.append(f"name on Whop is {remote.name!r}")
        channel.whop_name = remote.name or ""
    updates: dict[str, Any] = {"whop_name": channel.whop_name}
    if remote.last_message_at and (
        not channel.last_message_at or remote.last_message_at > channel.last_message_at
    ):
        updates["last_message_at"] = remote.last_message_at
        if not channel.last_activity_at or remote.last_message_at > channel.last_activity_at:
            updates["last_activity_at"] = remote.last_message_at
    DmChannel.objects.filter(pk=channel.pk).update(**updates)

    remote_members = {m.user_id: m for m in _whop_members(client, channel)}
    links = dict(
        WhopUserLink.objects.filter(
            user__dm_memberships__channel=channel, whop_user_id__isnull=False
        ).values_list("user_id", "whop_user_id")
    )
    for member in channel.members.all():
        remote_member = remote_members.pop(links.get(member.user_id, ""), None)
        if member.status == DmMember.Status.ACTIVE and remote_member is None:
            member.status, member.whop_member_id, member.attempts = DmMember.Status.PENDING, "", 0
            member.save()
            report.changes.append(f"user {member.user_id} missing on Whop: re-adding")
        elif member.status == DmMember.Status.PENDING and remote_member is not None:
            member.status, member.whop_member_id, member.added_at = (
                DmMember.Status.ACTIVE,
                remote_member.id,
                timezone.now(),
            )
            member.save()
            report.changes.append(f"user {member.user_id} already on Whop")
        elif member.status == DmMember.Status.REMOVED and remote_member is not None:
            member.status, member.whop_member_id = DmMember.Status.REMOVING, remote_member.id
            member.save()
            report.changes.append(f"user {member.user_id} removed here but still on Whop: removing")
        elif remote_member is not None and member.whop_member_id != remote_member.id:
            member.whop_member_id = remote_member.id
            member.save(update_fields=["whop_member_id", "updated_at"])
    for whop_user_id in remote_members:
        report.changes.append(f"Whop member {whop_user_id} is not known here (left as is)")


def _linked(user: Any) -> WhopUserLink:
    """The user's active Whop link: the preloaded one if there is one, else provision it now."""
    try:
        link = user.whop_link
    except WhopUserLink.DoesNotExist:
        link = None
    if link is not None and link.status == WhopUserLink.Status.ACTIVE and link.whop_user_id:
        return link
    return ensure_whop_user(user)


def _whop_members(client: WhopAdapter, channel: DmChannel) -> Iterator[DmMemberListItem]:
    """Every member of the channel on Whop (all pages, each paced)."""
    return iter(client.dm_members.list(channel_id=channel.whop_channel_id, first=100))


def _find_whop_member(
    client: WhopAdapter, channel: DmChannel, whop_user_id: str | None
) -> DmMemberListItem | None:
    for remote in _whop_members(client, channel):
        if remote.user_id == whop_user_id:
            return remote
    return None


def _find_posted_message(client: WhopAdapter, channel: DmChannel, message: DmOutboxMessage) -> Any:
    page = client.messages.list(channel_id=channel.whop_channel_id, direction="desc", first=50)
    for remote in page.items or []:
        if remote.content == message.content and remote.message_type != "regular":
            return remote
    return None


# ==============================================================================================
# Internals: provisioning users
# ==============================================================================================


def _provision(client: WhopAdapter, link: WhopUserLink) -> None:
    adapter = dm_bridge_settings.USER_ADAPTER()
    user = link.user
    company_id = _company(None)
    if not link.whop_user_id:
        email = adapter.get_email(user)
        if not email:
            raise UserNotProvisionable(_no_email(user))
        external_id = adapter.get_internal_id(user)
        account = (
            _find_connected_account(client, company_id, external_id, email)
            if link.attempts
            else None
        )
        if account is None:
            # The parent is the API key's own account; no customer emails from Whop.
            account = client.accounts.create(
                email=email,
                title=adapter.get_account_title(user)[:100] or email,
                metadata={"external_id": external_id},
                send_customer_emails=False,
                before_send=lambda: _count_attempt(link),
                idempotency_key=intent_key("accounts.create", link, external_id),
            )
        link.connected_account_id = account.id
        link.whop_user_id = account.owner.id
        link.whop_username = account.owner.username or ""
        try:
            with transaction.atomic():
                link.save(
                    update_fields=[
                        "connected_account_id",
                        "whop_user_id",
                        "whop_username",
                        "updated_at",
                    ]
                )
        except IntegrityError:
            other = (
                WhopUserLink.objects.filter(whop_user_id=account.owner.id)
                .exclude(pk=link.pk)
                .first()
            )
            raise UserNotProvisionable(
                f"Whop user {account.owner.id} (same email) is already linked to local user "
                f"{other.user_id if other else '?'}; give each user their own email."
            ) from None
    client.users.update(
        link.whop_user_id, account_id=company_id, name=adapter.get_display_name(user)[:100]
    )
    link.status = WhopUserLink.Status.ACTIVE
    link.linked_at = timezone.now()
    link.failures = 0
    link.last_error = ""
    link.next_attempt_at = None
    link.save()
    logger.info("user %s linked to Whop user %s", user.pk, link.whop_user_id)
    _send_on_commit(signals.whop_user_linked, WhopUserLink, link=link, user=user)


# Metadata keys that mark a connected account as a local user's: ``external_id`` (what Whop's
# title default reads), and ``internal_user_id`` written by dm_bridge before 0.2.
ACCOUNT_MARKERS = ("external_id", "internal_user_id")


def _find_connected_account(
    client: WhopAdapter, company_id: str, external_id: str, email: str
) -> Account | None:
    """The connected account an earlier, ambiguous attempt may have created for this user.

    First narrowed by ``query`` (cheap), then, because what ``query`` matches is not
    documented, every connected account of the parent.
    """
    for query in (email, None):
        accounts = client.accounts.list(
            parent_account_id=company_id, first=100, **({"query": query} if query else {})
        )
        for account in accounts:
            metadata = account.metadata or {}
            if any(str(metadata.get(key)) == external_id for key in ACCOUNT_MARKERS):
                return account
    return None


# ==============================================================================================
# Internals: leases, scheduling, failure bookkeeping
# ==============================================================================================


def _claim(model: type[Row], pk: int) -> tuple[Row, str] | None:
    """Take the row's lease if nobody holds it (one UPDATE: atomic on every database)."""
    now = timezone.now()
    token = secrets.token_hex(8)
    taken = (
        model.objects.filter(pk=pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_until=now + timedelta(seconds=dm_bridge_settings.LEASE_SECONDS), lease_token=token
        )
    )
    if not taken:
        return None
    return model.objects.get(pk=pk), token


def _release(row: WorkState, token: str) -> None:
    type(row).objects.filter(pk=row.pk, lease_token=token).update(lease_until=None, lease_token="")


def _is_due(row: WorkState) -> bool:
    return row.next_attempt_at is not None and row.next_attempt_at <= timezone.now() + timedelta(
        seconds=1
    )


def _count_attempt(row: WorkState, *, intent: bool = False) -> None:
    """Record an attempt just before a Whop write goes out, so a crash mid-call leaves a trace.

    ``intent`` (channel creation) also flags that Whop may hold the result before we know it.
    """
    row.attempts += 1
    updates: dict[str, Any] = {"attempts": models.F("attempts") + 1}
    if intent:
        updates["needs_reconcile"] = True
    type(row).objects.filter(pk=row.pk).update(**updates)


def intent_key(operation: str, row: WorkState, *parts: Any) -> str:
    """The ``Idempotency-Key`` of one intent: the same on every retry of it, new for a new one.

    The row's primary key and creation time make it unique across sites sharing a Whop key;
    ``parts`` carry what changes the intent (the member set, a re-add after a removal).
    """
    seed = "|".join(
        str(part) for part in (operation, type(row).__name__, row.pk, row.created_at, *parts)
    )
    return "dmb_" + hashlib.sha256(seed.encode()).hexdigest()[:40]


def _mark_due(channel: DmChannel) -> None:
    if channel.status == DmChannel.Status.FAILED:
        _revive_channel(channel)  # new work for a failed channel is a new request for it
        return
    DmChannel.objects.filter(pk=channel.pk).update(next_attempt_at=timezone.now())
    _enqueue_channel(channel.pk)


def _restart(rows: models.QuerySet[Any], **changes: Any) -> None:
    """A fresh start: no failure streak held against the rows any more."""
    rows.update(failures=0, waiting_since=None, **changes)


def _revive_channel(channel: DmChannel) -> None:
    """Start a channel afresh with its failed members and messages (a new request for it, or
    "Retry now"); a worker picks it up on commit."""
    if channel.status == DmChannel.Status.FAILED:
        channel.status = (
            DmChannel.Status.ACTIVE if channel.whop_channel_id else DmChannel.Status.PENDING
        )
    channel.failures, channel.waiting_since, channel.next_attempt_at = 0, None, timezone.now()
    _restart(
        DmChannel.objects.filter(pk=channel.pk),
        status=channel.status,
        next_attempt_at=channel.next_attempt_at,
    )
    failed_members = channel.members.filter(status=DmMember.Status.FAILED)
    _restart(failed_members, status=DmMember.Status.PENDING)
    failed_messages = channel.outbox.filter(status=DmOutboxMessage.Status.FAILED)
    _restart(failed_messages, status=DmOutboxMessage.Status.PENDING)
    _enqueue_channel(channel.pk)


def _retry_delay(failures: int, exc: BaseException) -> float:
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        return float(retry_after) + random.uniform(0, 0.25)
    cap = min(
        float(dm_bridge_settings.RETRY_BACKOFF_MAX),
        # The exponent is capped too: a day-long streak must not overflow a float.
        float(dm_bridge_settings.RETRY_BACKOFF_BASE) * 2 ** min(failures - 1, 40),
    )
    return max(0.5, random.uniform(cap / 2, cap))  # "equal jitter": spread out, never zero


def _reschedule(row: WorkState, delay: float, *, count_failure: bool, error: str = "") -> None:
    now = timezone.now()
    updates: dict[str, Any] = {"next_attempt_at": now + timedelta(seconds=delay)}
    if count_failure:
        row.failures += 1
        row.waiting_since = row.waiting_since or now
        updates["failures"] = row.failures
        updates["waiting_since"] = Coalesce("waiting_since", Value(now))  # the streak's start
    if error:
        updates.update(last_error=error, last_error_at=now)
    type(row).objects.filter(pk=row.pk).update(**updates)
    if isinstance(row, DmChannel):
        _send_task("drive_channel", row.pk, countdown=delay)
    elif isinstance(row, WhopUserLink):
        _send_task("drive_user_link", row.pk, countdown=delay)


def _is_refusal(exc: WhopError) -> bool:
    """Whop answered and said no (409 Conflict), rather than being unavailable (no answer,
    408, 429, 5xx): retryable by the table, but it may never clear by itself."""
    return exc.status is not None and exc.status < 500 and exc.status not in (408, 429)


def _give_up_reason(row: WorkState, exc: WhopError) -> str | None:
    """Why the row stops after this failure, or None to retry it: a permanent error at once,
    a retryable refusal after MAX_ATTEMPTS in a row, Whop being unavailable only once the
    streak is older than RETRY_HORIZON."""
    reason = describe_error(exc)
    if not exc.retryable:
        return reason
    failures = row.failures + 1
    if _is_refusal(exc):
        if failures < _max_attempts():
            return None
        return f"Gave up after Whop refused it {failures} times in a row. Last: {reason}"
    now = timezone.now()
    since = row.waiting_since or now
    horizon = float(dm_bridge_settings.RETRY_HORIZON)
    if (now - since).total_seconds() < horizon:
        return None
    span = f"{horizon / 3600:g} h" if horizon >= 3600 else f"{horizon:g} s"
    return (
        f"Gave up: Whop has been failing for it since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} "
        f"UTC, longer than DM_BRIDGE['RETRY_HORIZON'] ({span}). Last: {reason}"
    )


def _record_whop_failure(channel: DmChannel, exc: WhopError) -> str:
    channel.refresh_from_db()
    if not exc.ambiguous and not channel.whop_channel_id:
        # Whop answered with an error, so the create did not happen: nothing to look for.
        DmChannel.objects.filter(pk=channel.pk).update(needs_reconcile=False)
    elif exc.ambiguous and channel.whop_channel_id:
        DmChannel.objects.filter(pk=channel.pk).update(needs_reconcile=True)
    reason = _give_up_reason(channel, exc)
    if reason is not None:
        _fail_channel(channel, reason)
        return "failed"
    delay = _retry_delay(channel.failures + 1, exc)
    logger.warning(
        "dm channel %s: %s (retry %d in %.1fs)", channel.pk, exc, channel.failures + 1, delay
    )
    _reschedule(channel, delay, count_failure=True, error=describe_error(exc))
    return "retrying"


def _fail_channel(channel: DmChannel, reason: str) -> None:
    logger.error("dm channel %s (key %r) failed: %s", channel.pk, channel.key, reason)
    now = timezone.now()
    updates: dict[str, Any] = {
        "last_error": reason,
        "last_error_at": now,
        "next_attempt_at": None,
        "failures": models.F("failures") + 1,
    }
    if channel.status != DmChannel.Status.DELETED:
        updates["status"] = DmChannel.Status.FAILED
    DmChannel.objects.filter(pk=channel.pk).update(**updates)
    channel.refresh_from_db()
    _send_on_commit(signals.dm_channel_failed, DmChannel, channel=channel, error=reason)


def _fail_row(row: WorkState, reason: str) -> None:
    now = timezone.now()
    type(row).objects.filter(pk=row.pk).update(
        status="failed",
        last_error=reason,
        last_error_at=now,
        next_attempt_at=None,
        failures=models.F("failures") + 1,
    )
    row.refresh_from_db()


def _enqueue_channel(pk: int) -> None:
    transaction.on_commit(lambda: _send_task("drive_channel", pk))


def _enqueue_user_link(pk: int) -> None:
    transaction.on_commit(lambda: _send_task("drive_user_link", pk))


def _send_task(name: str, pk: int, countdown: float | None = None) -> None:
    """Hand work to Celery; if the broker is down, the sweeper finds the row later."""
    if not dm_bridge_settings.TASKS_ENABLED:
        if countdown is None:
            {"drive_channel": drive_channel, "drive_user_link": drive_user_link}[name](pk)
        return  # inline mode: delayed retries are left to the sweeper / an admin
    from . import tasks

    try:
        queue = _queue_for(name, pk)
        options = {"queue": queue} if queue else {}
        getattr(tasks, name).apply_async((pk,), countdown=countdown, **options)
    except Exception:  # the broker being down must never fail the caller
        logger.warning(
            "could not enqueue %s(%s); the sweeper will pick it up", name, pk, exc_info=True
        )


def _queue_for(name: str, pk: int) -> str | None:
    """BACKLOG_QUEUE for bulk provisioning and for a requester's channels beyond
    BACKLOG_THRESHOLD waiting to be created; None (the host's Celery routing) otherwise.

    Workers take from their queues in turn, so a flood there waits while everyone else's
    work keeps flowing through the default queue.
    """
    queue = dm_bridge_settings.BACKLOG_QUEUE
    threshold = int(dm_bridge_settings.BACKLOG_THRESHOLD)
    if not queue or name == "drive_user_link":
        return queue or None
    if not threshold:
        return None
    requester = DmChannel.objects.filter(pk=pk).values("requester_id")[:1]
    waiting = DmChannel.objects.filter(
        requester_id=Subquery(requester), status=DmChannel.Status.PENDING
    ).count()
    return queue if waiting > threshold else None


def _send_on_commit(signal: Any, sender: type, **kwargs: Any) -> None:
    transaction.on_commit(lambda: signal.send(sender=sender, **kwargs))


# ==============================================================================================
# Internals: validation
# ==============================================================================================


def _company(company_id: str | None) -> str:
    company = company_id or dm_bridge_settings.COMPANY_ID
    if not company:
        raise DmBridgeConfigurationError(
            "DM_BRIDGE['COMPANY_ID'] is not set (the biz_… your app's DMs belong to)."
        )
    return company


def _max_members() -> int:
    return int(dm_bridge_settings.MAX_MEMBERS)


def _max_attempts() -> int:
    return int(dm_bridge_settings.MAX_ATTEMPTS)


def _clean_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidDmRequest("A DM needs a non-empty key, e.g. 'shop:12/buyer:34'.")
    key = key.strip()
    limit = min(int(dm_bridge_settings.MAX_KEY_LENGTH), DmChannel._meta.get_field("key").max_length)
    if len(key) > limit:
        raise InvalidDmRequest(
            f"A DM key can be at most {limit} characters; this one has {len(key)}."
        )
    return key


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    limit = min(
        int(dm_bridge_settings.MAX_NAME_LENGTH), DmChannel._meta.get_field("custom_name").max_length
    )
    if len(name) > limit:
        raise InvalidDmRequest(
            f"A DM name can be at most {limit} characters; this one has {len(name)}."
        )
    return name


def _clean_users(users: Iterable[Any]) -> list[Any]:
    if users is None or isinstance(users, str | bytes):
        raise InvalidDmRequest("users must be a list of user objects.")
    unique: dict[Any, Any] = {}
    for user in users:
        _require_saved_user(user)
        unique.setdefault(user.pk, user)
    if not unique:
        raise InvalidDmRequest("A DM needs at least one member.")
    return list(unique.values())


def _require_provisionable(users: list[Any]) -> None:
    """A user with no Whop identity and no email can never get one: refuse before writing,
    rather than create a channel that is bound to fail. (An unverified email only waits.)"""
    adapter = dm_bridge_settings.USER_ADAPTER()
    linked = set(
        WhopUserLink.objects.filter(user__in=users, whop_user_id__isnull=False)
        .exclude(whop_user_id="")
        .values_list("user_id", flat=True)
    )
    for user in users:
        if user.pk not in linked and not adapter.get_email(user):
            raise UserNotProvisionable(_no_email(user))


def _no_email(user: Any) -> str:
    return (
        f"User {user.pk} ({user.get_username()}) has no email address; "
        "Whop needs one to create their account."
    )


def _require_saved_user(user: Any) -> None:
    model = get_user_model()
    if not isinstance(user, model) or user.pk is None:
        raise InvalidDmRequest(f"{user!r} is not a saved {model.__name__}.")
    if not model.objects.filter(pk=user.pk).exists():
        raise InvalidDmRequest(f"User {user.pk} does not exist.")


def _lock_live_channel(channel: DmChannel) -> DmChannel:
    """Re-read the channel under a row lock (serialises member-cap checks on PostgreSQL)."""
    locked = DmChannel.objects.select_for_update().filter(pk=channel.pk).first()
    if locked is None:
        raise InvalidDmRequest(f"DM channel {channel.pk} does not exist.")
    if locked.status == DmChannel.Status.DELETED:
        raise ChannelDeletedError(f"DM channel {channel.pk} ({locked.key}) was deleted.")
    return locked


__all__: Sequence[str] = [
    "DmBridgeError",
    "ReconcileReport",
    "add_member",
    "delete_channel",
    "describe_error",
    "drive_channel",
    "drive_user_link",
    "enqueue_user_sync",
    "ensure_whop_user",
    "open_dm",
    "post_message",
    "reconcile_channel",
    "remove_member",
    "reopen_dm",
    "rename_channel",
    "retry",
    "set_members",
    "sweep",
]
