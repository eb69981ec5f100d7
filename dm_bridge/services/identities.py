"""Identities: a Whop user for each local user, provisioned exactly once, only for a
verified email.

Provisioning enrols the user as a connected account under ``COMPANY_ID`` (SDK 2.6
``accounts.create`` with ``metadata.external_id``), then sets their per-company name with
``users.update``. After an ambiguous failure the account is looked up by that marker before
creating again. Bulk sync (``enqueue_user_sync``) runs the same work through workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from whop_sdk.types import Account

from .. import signals
from ..adapters import get_user_adapter
from ..exceptions import (
    EmailNotVerified,
    InvalidDmRequest,
    RowBusy,
    UserNotProvisionable,
)
from ..gateway import get_client
from ..models import WhopUserLink
from ..ratelimit import RateLimitDeferred
from ..whop import WhopAdapter, WhopError
from .engine.leases import claim, count_attempt, intent_key, release
from .engine.retry_policy import fail_row, give_up_reason, retry_delay
from .engine.scheduling import enqueue_user_link, reschedule, restart, send_on_commit
from .validation import company_for, no_email, require_saved_user
from .wording import describe_error

logger = logging.getLogger("dm_bridge")


UNVERIFIED_EMAIL = "Confirm your email address to use messages."


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
    require_saved_user(user)
    link = WhopUserLink.objects.filter(user=user).first()
    if link is not None and link.status == WhopUserLink.Status.ACTIVE and link.whop_user_id:
        return link
    adapter = get_user_adapter()
    if adapter.get_email(user) and not adapter.has_verified_email(user):
        raise EmailNotVerified(UNVERIFIED_EMAIL)  # (no email at all: _provision says so)
    if link is None:
        link, _ = WhopUserLink.objects.get_or_create(
            user=user, defaults={"next_attempt_at": timezone.now()}
        )
    claimed = claim(WhopUserLink, link.pk)
    if claimed is None:
        raise RowBusy(f"Whop user link {link.pk}")
    link, token = claimed
    try:
        _provision(get_client(), link)
        return link
    except UserNotProvisionable as exc:
        fail_row(link, str(exc))
        raise
    except WhopError as exc:
        reason = give_up_reason(link, exc)  # the same horizon as channels
        if reason is None:
            reschedule(
                link,
                retry_delay(link.failures + 1, exc),
                count_failure=True,
                error=describe_error(exc),
            )
        else:
            fail_row(link, reason)
        raise
    finally:
        release(link, token)


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
        reschedule(link, exc.retry_after, count_failure=False)
        return "deferred"
    except EmailNotVerified as exc:
        fail_row(link, str(exc))  # bulk sync reports it; the user's first chat retries it
        return "failed"
    except WhopError:
        link.refresh_from_db()
        return "failed" if link.status == WhopUserLink.Status.FAILED else "retrying"
    except InvalidDmRequest:
        return "failed"


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
            restart(
                WhopUserLink.objects.filter(pk=link.pk),
                status=WhopUserLink.Status.PENDING,
                next_attempt_at=timezone.now(),
            )
            enqueue_user_link(link.pk)
            queued += 1
    return queued


def _provision(client: WhopAdapter, link: WhopUserLink) -> None:
    adapter = get_user_adapter()
    user = link.user
    company_id = company_for(None)
    if not link.whop_user_id:
        email = adapter.get_email(user)
        if not email:
            raise UserNotProvisionable(no_email(user))
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
                before_send=lambda: count_attempt(link),
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
    send_on_commit(signals.whop_user_linked, WhopUserLink, link=link, user=user)


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
        accounts: Iterable[Account] = client.accounts.list(
            parent_account_id=company_id, first=100, **({"query": query} if query else {})
        )
        for account in accounts:
            metadata = account.metadata or {}
            if any(str(metadata.get(key)) == external_id for key in ACCOUNT_MARKERS):
                return account
    return None
