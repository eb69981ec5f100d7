"""dm_bridge's workflows. Views, tasks, admin actions and commands call these; nothing else
talks to Whop on behalf of a use case.

Two halves, one module per family (the layout of django-allauth's ``internal/flows``):

* **Requests** (web side) — ``channels``: ``open_dm``, ``add_member``, ``remove_member``,
  ``set_members``, ``rename_channel``, ``delete_channel``, ``reopen_dm``, ``post_message``;
  ``preferences``: ``mute``, ``archive`` (a member's own inbox state);
  ``identities``: ``enqueue_user_sync``; ``engine.scheduling``: ``retry``, ``bulk`` (many requests' work handed over together). They validate
  (``validation``), write the desired state in one transaction and enqueue the work on
  commit. They never call Whop, so a web request stays fast and nothing is half-written when
  Whop is down.
* **Work** (worker side) — ``engine``: ``drive_channel``, ``drive_channels``, ``reconcile_channel``, ``sweep``;
  ``identities``: ``drive_user_link``, ``ensure_whop_user``. A worker first takes a lease on
  the row (so two workers never work on the same channel), then converges Whop to the row.

``wording.describe_error`` turns any failure into a sentence for admins.

Around the DMs themselves, each feature is a family of its own: ``preferences`` (mute,
archive), ``reminders`` / ``reminders_delivery`` / ``reminders_mail`` (batched email for
unread messages), ``blocks`` and ``moderation`` (block, report, the moderation queue and its
audit log), ``contact_detection`` (off-platform contact in incoming messages) and
``response_times`` (the first-reply badge). ``incoming`` is what a new message sets off.

This package's names below are the public API (documented in the README); the modules'
other names are internal and may change.
"""

from __future__ import annotations

from ..exceptions import DmBridgeError
from .blocks import (
    ConversationBlocked,
    block,
    block_site_wide,
    blocks_by,
    closed_channels,
    find_block,
    hidden_channels,
    is_channel_closed,
    is_site_blocked,
    lift_site_block,
    unblock,
)
from .channels import (
    add_member,
    delete_channel,
    open_dm,
    post_message,
    remove_member,
    rename_channel,
    reopen_dm,
    set_members,
)
from .contact_detection import detect as detect_contact_info
from .engine.batches import drive_channels
from .engine.converge import drive_channel
from .engine.leases import intent_key
from .engine.reconcile import ReconcileReport, reconcile_channel
from .engine.scheduling import bulk, retry
from .engine.sweeper import sweep
from .identities import drive_user_link, enqueue_user_sync, ensure_whop_user
from .moderation import act_on_report, file_report, recent_messages
from .preferences import archive, mute
from .reminders import reminder_frequency, scan_reminders, set_reminder_frequency
from .reminders_delivery import retry_reminder, send_reminder
from .response_times import response_badge
from .wording import describe_error

__all__ = [
    "act_on_report",
    "add_member",
    "archive",
    "block",
    "block_site_wide",
    "bulk",
    "blocks_by",
    "closed_channels",
    "ConversationBlocked",
    "delete_channel",
    "describe_error",
    "detect_contact_info",
    "DmBridgeError",
    "drive_channel",
    "drive_channels",
    "drive_user_link",
    "enqueue_user_sync",
    "ensure_whop_user",
    "file_report",
    "find_block",
    "hidden_channels",
    "intent_key",
    "is_channel_closed",
    "is_site_blocked",
    "lift_site_block",
    "mute",
    "open_dm",
    "post_message",
    "recent_messages",
    "reconcile_channel",
    "ReconcileReport",
    "reminder_frequency",
    "remove_member",
    "rename_channel",
    "reopen_dm",
    "response_badge",
    "retry",
    "retry_reminder",
    "scan_reminders",
    "send_reminder",
    "set_members",
    "set_reminder_frequency",
    "sweep",
    "unblock",
]
