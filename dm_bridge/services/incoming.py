"""What an incoming chat message sets off beyond unread counts and activity times.

The webhook receiver calls ``message_received`` once per verified ``chat.message.created``
(deliveries are deduplicated on ``webhook-id`` before this runs), inside the transaction
that records the event, after the members' unread counts were updated. Each workflow
family that reacts to a new message (reminders, moderation, response times) is called from
here, so the receiver stays one line per concern.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whop_sdk import PostChatMessageCreatedPayload

from ..models import DmChannel
from . import contact_detection, preferences, reminders, response_times


def message_received(
    channels: list[DmChannel],
    payload: PostChatMessageCreatedPayload,
    author_user_ids: set[Any],
    author_users: Mapping[Any, Any] | None = None,
) -> None:
    """React to one new message in the Whop DM that ``channels`` (all local rows on it) share.

    ``author_user_ids``: the local users the author's Whop ID is linked to (empty when the
    author is the app or a user unknown here); ``author_users``: those users by primary key,
    when the caller has them loaded already.
    """
    reminders.record_unread_messages(channels, payload, author_user_ids, author_users)
    preferences.unarchive_on_new_message(channels, payload, author_user_ids)
    response_times.record_message(channels, payload, author_user_ids)
    contact_detection.check_message(channels, payload, author_user_ids)
