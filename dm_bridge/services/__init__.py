"""dm_bridge's workflows. Views, tasks, admin actions and commands call these; nothing else
talks to Whop on behalf of a use case.

Two halves, one module per family (the layout of django-allauth's ``internal/flows``):

* **Requests** (web side) — ``channels``: ``open_dm``, ``add_member``, ``remove_member``,
  ``set_members``, ``rename_channel``, ``delete_channel``, ``reopen_dm``, ``post_message``;
  ``identities``: ``enqueue_user_sync``; ``engine.scheduling``: ``retry``. They validate
  (``validation``), write the desired state in one transaction and enqueue the work on
  commit. They never call Whop, so a web request stays fast and nothing is half-written when
  Whop is down.
* **Work** (worker side) — ``engine``: ``drive_channel``, ``reconcile_channel``, ``sweep``;
  ``identities``: ``drive_user_link``, ``ensure_whop_user``. A worker first takes a lease on
  the row (so two workers never work on the same channel), then converges Whop to the row.

``wording.describe_error`` turns any failure into a sentence for admins.

This package's names below are the public API (documented in the README); the modules'
other names are internal and may change.
"""

from __future__ import annotations

from ..exceptions import DmBridgeError
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
from .engine.converge import drive_channel
from .engine.leases import intent_key
from .engine.reconcile import ReconcileReport, reconcile_channel
from .engine.scheduling import retry
from .engine.sweeper import sweep
from .identities import drive_user_link, enqueue_user_sync, ensure_whop_user
from .wording import describe_error

__all__ = [
    "DmBridgeError",
    "ReconcileReport",
    "add_member",
    "delete_channel",
    "describe_error",
    "drive_channel",
    "drive_user_link",
    "enqueue_user_sync",
    "ensure_whop_user",
    "intent_key",
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
