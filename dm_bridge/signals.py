"""Signals dm_bridge sends, always after the transaction that caused them has committed.

Every signal is sent with ``sender`` = the model class and these keyword arguments:

- ``whop_user_linked``: ``link`` (WhopUserLink), ``user``.
- ``dm_channel_ready``: ``channel`` (DmChannel) — it has a Whop channel ID and can be embedded.
- ``dm_channel_failed``: ``channel``, ``error`` (str, the plain-words reason).
- ``dm_member_added``: ``channel``, ``member`` (DmMember), ``user``.
- ``dm_member_removed``: ``channel``, ``member``, ``user``.
- ``dm_message_received``: ``channel``, ``message`` (``whop_sdk.types.Message``), ``event``
  (``whop_sdk.PostChatMessageCreatedPayload``, the whole webhook) — from webhooks.
- ``dm_member_muted``: ``channel``, ``member``, ``user``, ``muted`` (bool) — the member muted
  or unmuted the conversation (``services.mute``); Whop is updated by a worker.
- ``dm_member_archived``: ``channel``, ``member``, ``user``, ``archived`` (bool) — archived or
  restored (``services.archive``, or a new message bringing it back).
- ``dm_reminder_due``: ``reminder`` (Reminder), ``user``, ``messages`` (its UnreadMessage rows
  still unread) — just before a reminder email is sent (push or SMS hooks; with
  ``REMINDER_EMAIL`` off it is the only delivery). Sent once per attempt, after the attempt is
  committed: deduplicate on ``reminder.pk``.
- ``dm_reminder_sent``: ``reminder``, ``user`` — the reminder was delivered (or, with
  ``REMINDER_EMAIL`` off, signalled).
- ``dm_report_filed``: ``report`` (Report), ``created`` (bool: False when the same reporter
  and source had already reported it) — a user or a detector reported a conversation or message.
- ``dm_party_blocked``: ``block`` (Block), ``blocker`` (a user or host row; None: the site),
  ``blocked``, ``actor`` (the user who pressed Block or the moderator) — the DMs between them
  are closed.
- ``dm_party_unblocked``: ``blocker``, ``blocked``, ``actor`` — the block was lifted and the
  DMs it closed were given back their members.
- ``dm_moderation_action``: ``action`` (ModerationAction, the audit row), ``report`` (or None)
  — a moderator dismissed, warned, removed a user, blocked site-wide or deleted a DM.
"""

from django.dispatch import Signal

whop_user_linked = Signal()
dm_channel_ready = Signal()
dm_channel_failed = Signal()
dm_member_added = Signal()
dm_member_removed = Signal()
dm_message_received = Signal()
dm_member_muted = Signal()
dm_member_archived = Signal()
dm_reminder_due = Signal()
dm_reminder_sent = Signal()
dm_report_filed = Signal()
dm_party_blocked = Signal()
dm_party_unblocked = Signal()
dm_moderation_action = Signal()
