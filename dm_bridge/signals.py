"""Signals dm_bridge sends, always after the transaction that caused them has committed.

Every signal is sent with ``sender`` = the model class and these keyword arguments:

- ``whop_user_linked``: ``link`` (WhopUserLink), ``user``.
- ``dm_channel_ready``: ``channel`` (DmChannel) — it has a Whop channel ID and can be embedded.
- ``dm_channel_failed``: ``channel``, ``error`` (str, the plain-words reason).
- ``dm_member_added``: ``channel``, ``member`` (DmMember), ``user``.
- ``dm_member_removed``: ``channel``, ``member``, ``user``.
- ``dm_message_received``: ``channel``, ``message`` (``whop_sdk.types.Message``), ``event``
  (``whop_sdk.PostChatMessageCreatedPayload``, the whole webhook) — from webhooks.
"""

from django.dispatch import Signal

whop_user_linked = Signal()
dm_channel_ready = Signal()
dm_channel_failed = Signal()
dm_member_added = Signal()
dm_member_removed = Signal()
dm_message_received = Signal()
