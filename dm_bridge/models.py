"""dm_bridge's state: who is who on Whop, which DM channels exist, who is in them.

Rows hold the *desired* state; workers converge Whop to it. Every row that needs Whop work
carries the same bookkeeping (``WorkState``): status, attempts, last error in plain words, when
to try next, and a lease so only one worker works on a row at a time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class WorkState(models.Model):
    """Retry bookkeeping shared by every row that workers drive to completion."""

    attempts = models.PositiveIntegerField(
        default=0, help_text="Whop write attempts made so far (all time)."
    )
    failures = models.PositiveIntegerField(
        default=0, help_text="Failures in a row; reset on success."
    )
    waiting_since = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="waiting for Whop since",
        help_text=(
            "First failure of the current streak; cleared on success. Whop being unavailable "
            "is retried until DM_BRIDGE['RETRY_HORIZON'] after this."
        ),
    )
    last_error = models.TextField(
        blank=True, help_text="Why the last attempt failed, in plain words."
    )
    last_error_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the sweeper picks this row up next; empty when done.",
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds this row until then."
    )
    lease_token = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A streak ends when its failure count is reset, whichever code path reset it.
        if not self.failures:
            self.waiting_since = None
        super().save(*args, **kwargs)

    @property
    def is_leased(self) -> bool:
        return bool(self.lease_until and self.lease_until > timezone.now())


class WhopUserLink(WorkState):
    """A local user's Whop identity (a connected account under the platform company)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="whop_link"
    )
    whop_user_id = models.CharField(
        max_length=64, unique=True, null=True, blank=True, verbose_name="Whop user ID"
    )
    whop_username = models.CharField(max_length=150, blank=True)
    connected_account_id = models.CharField(
        max_length=64, blank=True, verbose_name="connected account ID"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Whop user link"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} → {self.whop_user_id or '(not linked)'}"


class DmChannel(WorkState):
    """One Whop DM channel, identified locally by the caller's business ``key`` per company."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"

    company_id = models.CharField(max_length=64, verbose_name="Whop company ID")
    key = models.CharField(
        max_length=200, help_text="The caller's business key, e.g. shop:12/buyer:34."
    )
    whop_channel_id = models.CharField(
        max_length=64, blank=True, db_index=True, verbose_name="Whop channel ID", help_text="feed_…"
    )
    custom_name = models.CharField(max_length=100, blank=True)
    whop_name = models.CharField(
        max_length=100, blank=True, help_text="The name Whop last reported."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    needs_reconcile = models.BooleanField(
        default=False, help_text="An ambiguous failure happened: check Whop before writing again."
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_on_whop = models.BooleanField(default=False)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_activity_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Last message or reaction (webhooks)."
    )
    # The host row this channel serves (optional; hosts usually also hold a FK to the channel).
    host_content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL
    )
    host_object_id = models.CharField(max_length=64, blank=True)
    host = GenericForeignKey("host_content_type", "host_object_id")
    # Whose request opened it: the work queue keeps one requester's flood from starving others.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who asked for this DM (open_dm's requester, default its first member).",
    )

    class Meta:
        verbose_name = "DM channel"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["company_id", "key"], name="dm_bridge_channel_key_per_company"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="dm_bridge_channel_due"),
            models.Index(fields=["requester", "status"], name="dm_bridge_channel_requester"),
        ]

    def __str__(self) -> str:
        return self.custom_name or self.key

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.ACTIVE and bool(self.whop_channel_id)


class DmMember(WorkState):
    """A user's membership of a channel: desired (``should_be_member``) and applied (``status``)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be added"
        ACTIVE = "active", "Member"
        REMOVING = "removing", "Waiting to be removed"
        REMOVED = "removed", "Removed"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(DmChannel, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dm_memberships"
    )
    whop_member_id = models.CharField(max_length=64, blank=True, verbose_name="Whop member ID")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    added_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "DM member"
        ordering = ["channel", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "user"], name="dm_bridge_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.channel}"

    @property
    def is_current(self) -> bool:
        """Counts towards the member cap: wanted in the channel, applied or not yet."""
        return self.status in (self.Status.PENDING, self.Status.ACTIVE, self.Status.FAILED)


class DmOutboxMessage(WorkState):
    """A message the app posts into a channel (e.g. "About: <listing>"), delivered once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(DmChannel, on_delete=models.CASCADE, related_name="outbox")
    dedupe_key = models.CharField(
        max_length=200, help_text="The same key never posts twice in a channel."
    )
    content = models.TextField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    whop_message_id = models.CharField(max_length=64, blank=True, verbose_name="Whop message ID")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "DM outbox message"
        ordering = ["channel", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedupe_key"], name="dm_bridge_outbox_once")
        ]

    def __str__(self) -> str:
        return f"{self.dedupe_key} → {self.channel}"


class WebhookEvent(models.Model):
    """One request the webhook receiver got, valid or not, kept for operators.

    ``webhook_id`` is set only once the signature is verified, so a forged request can never
    claim the ID of a real delivery and make the real one look like a duplicate.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (event type not handled)"
        INVALID = "invalid", "Invalid (not verified, or not Whop's event shape)"
        FAILED = "failed", "Failed (processing raised)"

    # NULL, not "": unverified rows have no ID, and only real IDs are unique (see constraints).
    webhook_id = models.CharField(  # noqa: DJ001
        max_length=128,
        null=True,
        blank=True,
        verbose_name="webhook ID",
        help_text="The webhook-id header (msg_…); empty for unverified requests.",
    )
    event_type = models.CharField(max_length=100, blank=True, db_index=True)
    headers = models.JSONField(
        default=dict, blank=True, help_text="webhook-*, content-type and user-agent only."
    )
    body = models.TextField(blank=True, help_text="The raw body (UTF-8, first 64 KB).")
    valid = models.BooleanField(default=False, help_text="The signature was verified.")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    error = models.TextField(blank=True, help_text="What went wrong or was noteworthy.")
    whop_channel_id = models.CharField(
        max_length=64, blank=True, db_index=True, verbose_name="Whop channel ID"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Times processing ran (deliveries and reprocessing)."
    )
    repeats = models.PositiveIntegerField(
        default=1, help_text="Unverified requests with this error within a minute, counted here."
    )

    class Meta:
        verbose_name = "webhook event"
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["webhook_id"],
                condition=models.Q(webhook_id__isnull=False),
                name="dm_bridge_webhook_id_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'webhook'} {self.webhook_id or '(unverified)'}"
