"""Whop's webhooks: verify (Standard Webhooks), store, dedupe, then apply the chat events.

Every request is stored as a :class:`~dm_bridge.models.WebhookEvent` so operators can see
what arrived. Answers follow what makes Whop do the right thing: 400 for a request that is not
Whop's (no retry helps), 500 when processing failed (Whop retries), 200 otherwise — including
a redelivery of an event already handled, which has no second effect.

``chat.message.created`` moves ``last_message_at`` of the local channels on that Whop DM,
marks the author's membership read and adds one unread message for everybody else, then sends
``dm_message_received`` after commit. Other event types are stored and ignored.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import standardwebhooks
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import signals
from .conf import dm_bridge_settings
from .models import DmChannel, DmMember, WebhookEvent, WhopUserLink

logger = logging.getLogger("dm_bridge")

MAX_BODY_BYTES = 1024 * 1024
STORED_BODY_BYTES = 64 * 1024
MAX_WEBHOOK_ID = WebhookEvent._meta.get_field("webhook_id").max_length or 128
STORED_HEADERS = ("content-type", "user-agent")
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
DONE = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)
UNKNOWN_CHANNEL = "unknown channel"


class MalformedWebhookEvent(ValueError):
    """A verified event whose content is not what Whop documents."""


# --- the view -----------------------------------------------------------------------------------


@transaction.non_atomic_requests  # the row must commit even when processing rolls back
@csrf_exempt  # Whop cannot send a CSRF token; the request is authenticated by its signature
@require_POST
def receive_webhook(request: HttpRequest) -> JsonResponse:
    if _declared_length(request) > MAX_BODY_BYTES:
        return _error("body too large", 413)
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _error("body too large", 413)

    secrets = _configured_secrets()
    if not secrets:
        logger.error("webhook rejected: DM_BRIDGE['WEBHOOK_SECRET'] is not set")
        return _error("webhook receiver is not configured", 503)

    headers = _stored_headers(request)
    reason = _verification_failure(body, headers, secrets)
    if reason is None and len(headers["webhook-id"]) > MAX_WEBHOOK_ID:
        reason = "webhook-id is too long"
    if reason is not None:
        # Stored without its webhook ID: a forged request must never block the real delivery.
        WebhookEvent.objects.create(
            headers=headers,
            body=_stored_body(body),
            valid=False,
            status=WebhookEvent.Status.INVALID,
            error=reason,
        )
        logger.warning("webhook %.100r rejected: %s", headers.get("webhook-id"), reason)
        return _error(reason, 400)

    text = body.decode()
    event = _record_delivery(headers["webhook-id"], headers, text)
    if event is None or not _process(event, text, unless_done=True):
        logger.info("webhook %s is a duplicate", headers["webhook-id"])
        return JsonResponse({"status": "duplicate"})
    if event.status == WebhookEvent.Status.FAILED:
        return _error("processing failed; retry later", 500)
    return JsonResponse({"status": event.status})


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _configured_secrets() -> list[str]:
    """``WEBHOOK_SECRET`` as a list: one string, or several while rotating secrets."""
    value = dm_bridge_settings.WEBHOOK_SECRET
    values = [value] if isinstance(value, str) else list(value or ())
    return [v for v in values if isinstance(v, str) and v]


def _stored_headers(request: HttpRequest) -> dict[str, str]:
    """Only what identifies the delivery: never cookies or credentials."""
    return {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith("webhook-") or name.lower() in STORED_HEADERS
    }


def _stored_body(body: bytes) -> str:
    return body[:STORED_BODY_BYTES].decode("utf-8", errors="replace")


def _verification_failure(body: bytes, headers: dict[str, str], secrets: list[str]) -> str | None:
    """None when one of ``secrets`` verifies the request, otherwise why none did."""
    signed = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    reason = "no secret verified the signature"
    for secret in secrets:
        # Whop keys the HMAC with the secret's UTF-8 bytes; the library wants them base64-encoded.
        verifier = standardwebhooks.Webhook(base64.b64encode(secret.encode()).decode())
        try:
            verifier.verify(body, signed, json_parse=False)
        except standardwebhooks.WebhookVerificationError as exc:
            reason = str(exc)
        except ValueError:  # undecodable signature or a body that is not UTF-8
            reason = "Malformed signature header or body"
        else:
            return None
    return reason


def _record_delivery(webhook_id: str, headers: dict[str, str], text: str) -> WebhookEvent | None:
    """The row for this webhook ID, created race-safely; None when it is already handled."""
    envelope = _loose_envelope(text)
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                webhook_id=webhook_id,
                event_type=str(envelope.get("type") or "")[:100],
                headers=headers,
                body=_stored_body(text.encode()),
                valid=True,
                whop_channel_id=str(data.get("channel_id") or "")[:64],
            )
    except IntegrityError:
        event = WebhookEvent.objects.get(webhook_id=webhook_id)
    return None if event.status in DONE else event  # received or failed: process (again)


def _loose_envelope(text: str) -> dict[str, Any]:
    try:
        envelope = json.loads(text)
    except ValueError:
        return {}
    return envelope if isinstance(envelope, dict) else {}


# --- processing ---------------------------------------------------------------------------------


def process_event(event: WebhookEvent) -> None:
    """Apply a verified event's effects from its stored body and record the outcome on it.

    For the admin's "Reprocess": it applies the effects even when the event was processed
    before (a message then counts as unread twice). A processing error is recorded
    (``status`` failed, ``error``), not raised.
    """
    if not event.valid:
        raise ValueError("Only verified webhook events can be processed.")
    _process(event, event.body, unless_done=False)


def _process(event: WebhookEvent, text: str, *, unless_done: bool) -> bool:
    """Apply ``text`` (the event's body) under a lock on the row; False if already done."""
    with transaction.atomic():
        # The lock serialises concurrent deliveries of one ID: the second sees it done.
        locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
        if unless_done and locked.status in DONE:
            return False
        locked.attempts += 1
        event_type = locked.event_type or "(unknown type)"
        try:
            with transaction.atomic():
                locked.status, locked.error = _apply(_strict_envelope(text))
        except Exception as exc:
            locked.status = WebhookEvent.Status.FAILED
            locked.error = f"{type(exc).__name__}: {exc}"
            locked.processed_at = None
            logger.exception("webhook %s (%s) failed", locked.webhook_id, event_type)
        else:
            locked.processed_at = timezone.now()
            logger.info("webhook %s (%s) %s", locked.webhook_id, event_type, locked.status)
        locked.save(update_fields=["status", "error", "attempts", "processed_at"])
    for field in ("status", "error", "attempts", "processed_at"):
        setattr(event, field, getattr(locked, field))
    return True


def _strict_envelope(text: str) -> dict[str, Any]:
    try:
        envelope = json.loads(text)
    except ValueError:
        raise MalformedWebhookEvent("The body is not JSON (or was cut at 64 KB).") from None
    if not isinstance(envelope, dict):
        raise MalformedWebhookEvent("The body is not a JSON object.")
    return envelope


def _apply(envelope: dict[str, Any]) -> tuple[str, str]:
    """(status, note) after applying the event; unknown types are ignored."""
    handler = EVENT_HANDLERS.get(str(envelope.get("type")))
    if handler is None:
        return WebhookEvent.Status.IGNORED, ""
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise MalformedWebhookEvent("The event's data is not an object.")
    return WebhookEvent.Status.PROCESSED, handler(data)


def record_message(message: dict[str, Any]) -> str:
    """``chat.message.created``: unread counts and activity time of every local channel on it.

    Returns a note for the event row ("unknown channel" when no local channel uses the DM).
    """
    whop_channel_id = message.get("channel_id")
    if not isinstance(whop_channel_id, str) or not whop_channel_id:
        raise MalformedWebhookEvent("The message has no channel_id.")
    sent_at = _message_time(message.get("created_at"))
    author = message.get("user")
    author_id = author.get("id") if isinstance(author, dict) else None

    # Several local channels may share one Whop DM (same member set, different keys).
    channels = list(
        DmChannel.objects.filter(whop_channel_id=whop_channel_id).exclude(
            status=DmChannel.Status.DELETED
        )
    )
    if not channels:
        return UNKNOWN_CHANNEL
    pks = [channel.pk for channel in channels]
    DmChannel.objects.filter(pk__in=pks).filter(
        Q(last_message_at__isnull=True) | Q(last_message_at__lt=sent_at)
    ).update(last_message_at=sent_at)

    members = DmMember.objects.filter(
        channel_id__in=pks, status__in=(DmMember.Status.ACTIVE, DmMember.Status.PENDING)
    )
    # Only members who had not read up to this message yet (deliveries come in any order).
    behind = Q(last_read_at__isnull=True) | Q(last_read_at__lt=sent_at)
    if isinstance(author_id, str) and author_id:
        author_users = WhopUserLink.objects.filter(whop_user_id=author_id).values("user_id")
        members.filter(behind, user_id__in=author_users).update(
            last_read_at=sent_at, unread_count=0
        )
        members = members.exclude(user_id__in=author_users)
    members.filter(behind).update(unread_count=F("unread_count") + 1)

    for channel in channels:
        if channel.last_message_at is None or channel.last_message_at < sent_at:
            channel.last_message_at = sent_at
        # robust: a failing receiver is logged; it must not turn a processed event into a 500.
        transaction.on_commit(_announce(channel, message), robust=True)
    return ""


def _announce(channel: DmChannel, message: dict[str, Any]) -> Callable[[], None]:
    def send() -> None:
        signals.dm_message_received.send(sender=DmChannel, channel=channel, message=message)

    return send


def _message_time(value: Any) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise MalformedWebhookEvent("The message's created_at is not an ISO 8601 time.")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


EVENT_HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "chat.message.created": record_message,
}
