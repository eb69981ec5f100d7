"""Django admin for operators: see what dm_bridge did with Whop, and repair it.

Every repair goes through :mod:`dm_bridge.services` ("Retry now", "Reconcile with Whop",
"Delete channel (here and on Whop)"); nothing here writes Whop state or calls Whop itself.
Channels, links, members and messages are created by services, so none can be added here,
and the rows workers maintain are read-only.

One module per subject: ``channels`` (channels, members, outbox), ``identities`` (Whop user
links), ``webhooks``, ``reminders``, ``moderation`` (reports, blocks, audit log) and
``response_times``; ``base`` holds the shared pieces.
"""

from . import channels, identities, moderation, reminders, response_times, webhooks

__all__ = ["channels", "identities", "moderation", "reminders", "response_times", "webhooks"]
