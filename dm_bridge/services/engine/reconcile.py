"""Reconciling a channel with Whop: compare existence, members and name, and queue repairs.

Local rows are the truth. Run by the admin's "Reconcile with Whop", the reconcile command,
and by the engine itself after an ambiguous channel create.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from whop_sdk.types import DmMemberListItem

from ...exceptions import (
    RowBusy,
)
from ...gateway import get_client
from ...models import DmChannel, DmMember, WhopUserLink
from ...whop import WhopAdapter, WhopNotFoundError
from .leases import claim, release
from .scheduling import mark_due

logger = logging.getLogger("dm_bridge")


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
    claimed = claim(DmChannel, channel.pk)
    if claimed is None:
        raise RowBusy(f"DM channel {channel.pk}")
    channel, token = claimed
    try:
        if channel.status == DmChannel.Status.DELETED or not channel.whop_channel_id:
            report.changes.append(
                "not on Whop yet" if not channel.whop_channel_id else "deleted here"
            )
            return report
        reconcile(get_client(), channel, report)
        logger.info("dm channel %s reconciled: %s", channel.pk, report)
    finally:
        release(channel, token)
    if report.changes:
        mark_due(channel)  # after releasing the lease, so the repair can start at once
    return report


def reconcile(client: WhopAdapter, channel: DmChannel, report: ReconcileReport) -> None:
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

    remote_members = {m.user_id: m for m in whop_members(client, channel)}
    links = dict(
        WhopUserLink.objects.filter(
            user__dm_memberships__channel=channel, whop_user_id__isnull=False
        ).values_list("user_id", "whop_user_id")
    )
    for member in channel.members.all():
        remote_member = remote_members.pop(links.get(member.user_id) or "", None)
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


def whop_members(client: WhopAdapter, channel: DmChannel) -> Iterator[DmMemberListItem]:
    """Every member of the channel on Whop (all pages, each paced)."""
    return iter(client.dm_members.list(channel_id=channel.whop_channel_id, first=100))
