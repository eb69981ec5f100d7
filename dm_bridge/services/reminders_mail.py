"""Composing a reminder email: who wrote, how many, where, a preview, the deep link, and the
one-click unsubscribe of RFC 8058.

Templates (override them in your project): ``dm_bridge/email/reminder_subject.txt``,
``reminder.txt`` and ``reminder.html``. Their context: ``name`` (the recipient's display
name), ``conversations`` (each: ``title``, ``url``, ``count``, ``authors``, ``messages`` with
``author``/``preview``/``sent_at`` — the last few, only with ``REMINDER_PREVIEW``), ``count``
(all messages), ``is_digest``, ``show_previews``, ``unsubscribe_url``, ``preferences_url``.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse

from ..adapters import get_user_adapter
from ..conf import dm_bridge_settings
from ..models import Reminder, UnreadMessage
from .engine.leases import intent_key
from .reminders import unsubscribe_token

PREVIEWS_PER_CONVERSATION = 5


def compose(reminder: Reminder, items: list[UnreadMessage]) -> EmailMultiAlternatives:
    """The email for ``reminder`` covering ``items`` (its still-unread messages)."""
    user = reminder.user
    context = {
        "name": get_user_adapter().get_display_name(user),
        "conversations": _conversations(user, items),
        "count": len(items),
        "is_digest": reminder.kind == Reminder.Kind.DIGEST,
        "show_previews": bool(dm_bridge_settings.REMINDER_PREVIEW),
        "unsubscribe_url": unsubscribe_url(user),
        "preferences_url": absolute_url(
            dm_bridge_settings.REMINDER_ADAPTER().get_preferences_url(user)
        ),
    }
    subject = " ".join(render_to_string("dm_bridge/email/reminder_subject.txt", context).split())
    users = get_user_adapter()
    # Only an address the site verified: never mail someone who merely typed it in.
    address = users.get_email(user) if users.has_verified_email(user) else ""
    sender = sender_address()
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("dm_bridge/email/reminder.txt", context),
        from_email=sender,
        to=[address] if address else [],
        headers={
            "Message-ID": message_id(reminder, sender),
            # RFC 8058: mail clients offer "Unsubscribe" and POST to it without a session.
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",  # RFC 3834: no auto-replies, please
        },
        connection=_connection(),
    )
    email.attach_alternative(
        render_to_string("dm_bridge/email/reminder.html", context), "text/html"
    )
    return email


def message_id(reminder: Reminder, sender: str) -> str:
    """The same on every attempt of this reminder, and unique to it (its row and creation)."""
    if reminder.message_id:
        return reminder.message_id
    domain = parseaddr(sender)[1].rpartition("@")[2] or "dm-bridge.invalid"
    return f"<{intent_key('reminder', reminder)}@{domain}>"


def unsubscribe_url(user: Any) -> str:
    return absolute_url(reverse("dm_bridge:reminder-unsubscribe", args=[unsubscribe_token(user)]))


def _conversations(user: Any, items: list[UnreadMessage]) -> list[dict[str, Any]]:
    adapter = dm_bridge_settings.REMINDER_ADAPTER()
    groups: dict[int, list[UnreadMessage]] = {}
    for item in items:
        groups.setdefault(item.member_id, []).append(item)
    conversations = []
    for messages in sorted(groups.values(), key=lambda group: group[-1].sent_at, reverse=True):
        channel = messages[0].member.channel
        authors = list(dict.fromkeys(m.author_name for m in messages if m.author_name))
        shown = messages[-PREVIEWS_PER_CONVERSATION:] if dm_bridge_settings.REMINDER_PREVIEW else []
        conversations.append(
            {
                "title": adapter.get_conversation_title(channel, user),
                "url": absolute_url(adapter.get_conversation_url(channel, user)),
                "count": len(messages),
                "authors": authors,
                "messages": [
                    {"author": m.author_name, "preview": m.preview, "sent_at": m.sent_at}
                    for m in shown
                    if m.preview
                ],
            }
        )
    return conversations


def _connection() -> Any:
    """Django's configured backend, with a socket timeout well inside the worker's lease, so a
    hung server cannot outlive the lease and let a second worker send the same reminder."""
    connection = get_connection(fail_silently=False)
    if hasattr(connection, "timeout"):
        cap = max(1.0, float(dm_bridge_settings.LEASE_SECONDS) / 3)
        connection.timeout = min(float(connection.timeout or cap), cap)
    return connection


def absolute_url(path: str) -> str:
    """``path`` made absolute with ``SITE_URL`` (already absolute URLs are kept)."""
    if not path or "://" in path:
        return path
    base = str(dm_bridge_settings.SITE_URL or "").rstrip("/")
    return f"{base}/{path.lstrip('/')}" if base else path


def sender_address() -> str:
    return str(dm_bridge_settings.REMINDER_FROM_EMAIL or settings.DEFAULT_FROM_EMAIL)
