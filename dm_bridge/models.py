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
            # Also "dm_bridge_channel_recent" (api/channels/'s order), created by migration 0012
            # on PostgreSQL only: SQLite cannot index NULLS LAST, and an index in the model's
            # state would be re-created (and fail) whenever SQLite rebuilds the table.
        ]

    def __str__(self) -> str:
        return self.custom_name or self.key

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.ACTIVE and bool(self.whop_channel_id)


class DmMemberQuerySet(models.QuerySet["DmMember"]):
    """Filters for a member's own inbox preferences (``services.preferences``)."""

    def wants_reminders(self) -> DmMemberQuerySet:
        """Memberships that may be reminded of unread messages: not muted."""
        return self.filter(muted=False)

    def in_inbox(self) -> DmMemberQuerySet:
        """Memberships shown in the inbox: not archived."""
        return self.filter(archived=False)

    def archived_only(self) -> DmMemberQuerySet:
        return self.filter(archived=True)


class DmMember(WorkState):
    """A user's membership of a channel: desired (``should_be_member``) and applied (``status``).

    ``muted`` and ``archived`` are the member's own wishes for this conversation (desired
    state, like membership). A worker applies them to Whop's member record as
    ``notification_preference`` (``"none"`` when muted, else ``"all"``) and ``status``
    (``"archived"``, else ``"accepted"``); ``whop_notification_preference`` and
    ``whop_member_status`` hold what Whop last reported, empty when not known yet.
    """

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
    muted = models.BooleanField(
        default=False,
        help_text="The member muted this conversation: no reminders (Whop: notifications none).",
    )
    archived = models.BooleanField(
        default=False,
        help_text="Out of the member's inbox until a new message arrives (Whop: status archived).",
    )
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="When archived: only a message sent later un-archives."
    )
    whop_notification_preference = models.CharField(
        max_length=16, blank=True, help_text="What Whop last reported (all/mentions/none)."
    )
    whop_member_status = models.CharField(
        max_length=16,
        blank=True,
        verbose_name="Whop member status",
        help_text="What Whop last reported (requested/accepted/hidden/closed/archived).",
    )

    objects = DmMemberQuerySet.as_manager()

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
    # Only with WEBHOOK_APPLY "worker": when the sweeper hands the event to a worker (again).
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker applies it (again): a retry, or the sweeper's safety net.",
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
        indexes = [
            # The sweeper's query: only events a worker still has to apply have a time.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(next_attempt_at__isnull=False),
                name="dm_bridge_webhook_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'webhook'} {self.webhook_id or '(unverified)'}"


# --- Email reminders (services/reminders.py) ----------------------------------------------------


class ReminderPreference(models.Model):
    """How often a user wants reminder emails about unread DMs (no row: the site's default)."""

    class Frequency(models.TextChoices):
        BATCH = "batch", "Each batch of unread messages"
        DAILY = "daily", "A daily digest"
        OFF = "off", "Never"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dm_reminder_preference"
    )
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "reminder preference"

    def __str__(self) -> str:
        return f"{self.user}: {self.get_frequency_display()}"


class Reminder(WorkState):
    """One reminder email for one batch of unread messages, sent at most once per batch.

    ``batch_key`` is unique: a membership's batch is named by its first message, a digest by
    its user and day, so no scan, redelivered webhook or second worker can make a second row
    for the same batch. ``sending`` is recorded before the SMTP call; the Message-ID is derived
    from the row, so a resend after a crash in between is the same message.
    """

    class Kind(models.TextChoices):
        BATCH = "batch", "One conversation"
        DIGEST = "digest", "Daily digest"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Not needed"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BATCH)
    batch_key = models.CharField(
        max_length=120, unique=True, help_text="The batch this reminder covers (one row each)."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dm_reminders"
    )
    member = models.ForeignKey(
        DmMember,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
        help_text="The membership reminded about (empty for a digest).",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    recipient = models.EmailField(blank=True, help_text="The address it was sent to.")
    subject = models.CharField(max_length=255, blank=True)
    message_id = models.CharField(
        max_length=200,
        blank=True,
        verbose_name="Message-ID",
        help_text="The same on every attempt.",
    )
    message_count = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivery = models.TextField(blank=True, help_text="What the mail server said, or why not sent.")

    class Meta:
        verbose_name = "DM reminder"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="dm_bridge_reminder_due"),
            models.Index(fields=["member", "created_at"], name="dm_bridge_reminder_window"),
        ]

    def __str__(self) -> str:
        return f"reminder to {self.user} ({self.batch_key})"


class UnreadMessage(models.Model):
    """A message a member has not read yet, as the webhook told us: what a reminder lists.

    One per (membership, Whop message), so a redelivered or reprocessed webhook adds nothing;
    ``reminder`` is set once, when a batch takes it, so no message is reminded twice.
    """

    member = models.ForeignKey(DmMember, on_delete=models.CASCADE, related_name="unread_messages")
    whop_message_id = models.CharField(max_length=64, verbose_name="Whop message ID")
    author_name = models.CharField(max_length=150, blank=True)
    by_member = models.BooleanField(
        default=True,
        help_text="Written by a person here, not by the app (its notes alone send no email).",
    )
    preview = models.CharField(
        max_length=200, blank=True, help_text="Start of the message (empty with previews off)."
    )
    sent_at = models.DateTimeField(help_text="When Whop says it was posted.")
    received_at = models.DateTimeField(default=timezone.now)
    reminder = models.ForeignKey(
        Reminder, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )

    class Meta:
        verbose_name = "unread message"
        ordering = ["sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "whop_message_id"], name="dm_bridge_unread_message_once"
            )
        ]
        indexes = [
            models.Index(fields=["reminder", "received_at"], name="dm_bridge_unread_unbatched")
        ]

    def __str__(self) -> str:
        return f"{self.whop_message_id} for {self.member}"


# --- Moderation: blocks, reports, audit log (services/moderation.py) ----------------------------


class Block(models.Model):
    """``blocker`` blocked ``blocked``: each a *party*, a user or any host row (e.g. a shop).

    An empty ``blocker`` is the site's moderators blocking ``blocked`` site-wide. While a
    block stands, the DMs that connect the two parties are closed (their users taken out of
    them on Whop, history kept) and no new one opens; ``BlockedMembership`` rows remember who
    was taken out of which channel, so unblocking can put them back.
    """

    blocker_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    blocker_id = models.CharField(max_length=64, blank=True)
    blocker = GenericForeignKey("blocker_type", "blocker_id")
    blocked_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    blocked_id = models.CharField(max_length=64)
    blocked = GenericForeignKey("blocked_type", "blocked_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The person who pressed Block (for a shop: the team member).",
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "block"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["blocker_type", "blocker_id", "blocked_type", "blocked_id"],
                condition=models.Q(blocker_type__isnull=False),
                name="dm_bridge_block_once",
            ),
            models.UniqueConstraint(
                fields=["blocked_type", "blocked_id"],
                condition=models.Q(blocker_type__isnull=True),
                name="dm_bridge_site_block_once",
            ),
        ]
        indexes = [
            models.Index(fields=["blocked_type", "blocked_id"], name="dm_bridge_block_blocked"),
        ]

    def __str__(self) -> str:
        blocker = "the site" if self.blocker_type_id is None else f"{self.blocker}"
        return f"{blocker} blocked {self.blocked}"

    @property
    def site_wide(self) -> bool:
        return self.blocker_type_id is None


class BlockedMembership(models.Model):
    """A user a block took out of a channel: the channel is closed while any row names it."""

    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="memberships")
    channel = models.ForeignKey(DmChannel, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = "membership closed by a block"
        constraints = [
            models.UniqueConstraint(
                fields=["block", "channel", "user"], name="dm_bridge_blocked_membership_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} out of {self.channel}"


class Report(models.Model):
    """A conversation or one of its messages reported to the site's moderators (the queue)."""

    class Category(models.TextChoices):
        SPAM = "spam", "Spam"
        HARASSMENT = "harassment", "Harassment"
        SCAM = "scam", "Scam or fraud"
        OFF_PLATFORM = "off_platform", "Asking to pay off-platform"
        OTHER = "other", "Other"

    class Source(models.TextChoices):
        USER = "user", "A user"
        DETECTOR = "detector", "Automatic detection"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        ACTIONED = "actioned", "Acted on"

    channel = models.ForeignKey(DmChannel, on_delete=models.CASCADE, related_name="reports")
    whop_message_id = models.CharField(
        max_length=64,
        blank=True,
        verbose_name="Whop message ID",
        help_text="The reported message; empty: the whole conversation.",
    )
    category = models.CharField(max_length=16, choices=Category.choices)
    note = models.TextField(blank=True, help_text="What the reporter wrote.")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dm_reports",
        help_text="Empty for automatic reports.",
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.USER)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "report"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "whop_message_id", "source", "reporter"],
                condition=models.Q(reporter__isnull=False),
                name="dm_bridge_report_once",
            ),
            models.UniqueConstraint(
                fields=["channel", "whop_message_id", "source"],
                condition=models.Q(reporter__isnull=True),
                name="dm_bridge_report_once_unattributed",
            ),
        ]

    def __str__(self) -> str:
        what = f"message {self.whop_message_id}" if self.whop_message_id else "conversation"
        return f"{self.get_category_display()}: {what} in {self.channel}"


class ModerationAction(models.Model):
    """The audit log: one row per block, unblock and moderator action, never edited."""

    class Kind(models.TextChoices):
        BLOCK = "block", "Blocked"
        UNBLOCK = "unblock", "Unblocked"
        DISMISS = "dismiss", "Dismissed a report"
        WARN = "warn", "Warned in the DM"
        REMOVE_MEMBER = "remove_member", "Removed a user from the DM"
        BLOCK_SITE_WIDE = "block_site_wide", "Blocked a user site-wide"
        LIFT_SITE_BLOCK = "lift_site_block", "Lifted a site-wide block"
        DELETE_CHANNEL = "delete_channel", "Deleted the DM"

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who did it (a moderator, or the user who blocked).",
    )
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    block = models.ForeignKey(
        Block, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.ForeignKey(
        DmChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    summary = models.CharField(
        max_length=300, blank=True, help_text="Who blocked whom, kept if the rows go away."
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "moderation log entry"
        verbose_name_plural = "moderation log"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"


# --- Response times (services/response_times.py) -----------------------------------------------


class ConversationResponse(models.Model):
    """When a conversation's asker (e.g. the buyer) first wrote and when the responder side
    (e.g. the shop's team) first answered after that, kept from webhooks. One per channel."""

    channel = models.OneToOneField(
        DmChannel, on_delete=models.CASCADE, related_name="response_time"
    )
    # The responder: any host row (a shop), named by the RESPONSE_TIME_ADAPTER.
    responder_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    responder_id = models.CharField(max_length=64)
    asked_at = models.DateTimeField(help_text="The asker's first message.")
    replied_at = models.DateTimeField(
        null=True, blank=True, help_text="The responder's first message after it."
    )
    reply_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "conversation response time"
        indexes = [
            models.Index(
                fields=["responder_type", "responder_id", "asked_at"],
                name="dm_bridge_response_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.reply_seconds}s" if self.replied_at else f"{self.channel}"


class ResponseSummary(models.Model):
    """A responder's response figures over the window, maintained on each change so a page
    view reads one row (re-slid when older than ``RESPONSE_TIME_REFRESH``)."""

    responder_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    responder_id = models.CharField(max_length=64)
    conversations = models.PositiveIntegerField(
        default=0, help_text="Conversations in the window that count (answered or 24 h old)."
    )
    answered = models.PositiveIntegerField(default=0)
    answered_within_day = models.PositiveIntegerField(default=0)
    median_reply_seconds = models.PositiveIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "response-time summary"
        verbose_name_plural = "response-time summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["responder_type", "responder_id"], name="dm_bridge_response_summary_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.responder_type} {self.responder_id}: {self.answered}/{self.conversations}"
