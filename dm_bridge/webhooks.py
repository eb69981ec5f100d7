"""Whop's webhooks: verify (Standard Webhooks), store, dedupe, then apply the chat events.

Every request is stored as a :class:`~dm_bridge.models.WebhookEvent` so operators can see
what arrived. Answers follow what makes Whop do the right thing: 400 for a request that is not
Whop's, 422 for a verified event that lacks what we need (no retry can help either), 500 when
processing failed (Whop retries), 200 otherwise — including a redelivery of an event already
handled, which has no second effect.

Payloads are read with the official SDK's models (``PostChatMessageCreatedPayload``,
``PostChatReactionCreatedPayload``: ``data = {reason, audience, channel: {id, type},
message}``); unknown fields are ignored. Only ``direct_message`` channels are acted on.
``chat.message.created`` moves ``last_message_at`` / ``last_activity_at`` of the local channels
on that Whop DM, marks the author's membership read and adds one unread message for the
audience (everybody else), then sends ``dm_message_received`` after commit.
``chat.reaction.created`` moves ``last_activity_at``. Other event types are stored and ignored.

Where the effects are applied is ``WEBHOOK_APPLY``: ``"request"`` applies them before
answering (one transaction with the stored row; a failure answers 500 and Whop retries);
``"worker"`` stores the row as ``received``, answers 200 at once and hands it to a Celery
worker (``tasks.apply_webhook_event``), which retries failures with backoff until
``RETRY_HORIZON`` (the sweeper is the safety net for a lost task). A malformed or ignored
event is recognised before anything is stored in both modes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pydantic
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from whop_sdk import PostChatMessageCreatedPayload, PostChatReactionCreatedPayload
from whop_sdk.lib.verify_webhook import WebhookVerificationError, unwrap

from . import signals
from .conf import dm_bridge_settings
from .models import DmChannel, DmMember, WebhookEvent, WhopUserLink
from .services import incoming

logger = logging.getLogger("dm_bridge")

MAX_BODY_BYTES = 1024 * 1024
STORED_BODY_BYTES = 64 * 1024
STORED_REJECTED_BYTES = 512  # of a request that failed verification: enough to recognise it
REJECTION_WINDOW = timedelta(minutes=1)
MAX_REJECTED_ROWS = 1000
MAX_WEBHOOK_ID = WebhookEvent._meta.get_field("webhook_id").max_length or 128
STORED_HEADERS = ("content-type", "user-agent")
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
DONE = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED, WebhookEvent.Status.INVALID)
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
        _record_rejection(headers, body, reason)
        logger.warning("webhook %.100r rejected: %s", headers.get("webhook-id"), reason)
        return _error(reason, 400)

    text = _storable(body.decode("utf-8", errors="replace"))
    if _applies_in_worker():
        return _store_for_worker(headers["webhook-id"], headers, text)
    event = _receive_first_delivery(headers["webhook-id"], headers, text)
    if event is None:  # the ID is known: a redelivery, or a retry after a failure
        event = _record_delivery(headers["webhook-id"], headers, text)
        if event is None or not _process(event, text, unless_done=True):
            logger.info("webhook %s is a duplicate", headers["webhook-id"])
            return JsonResponse({"status": "duplicate"})
    if event.status == WebhookEvent.Status.FAILED:
        return _error("processing failed; retry later", 500)
    if event.status == WebhookEvent.Status.INVALID:
        return _error(event.error, 422)
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


def _storable(text: str) -> str:
    """Text every database stores: PostgreSQL refuses NUL characters in text columns."""
    return text.replace("\x00", "\ufffd")


def _stored_body(body: bytes, limit: int = STORED_BODY_BYTES) -> str:
    return _storable(body[:limit].decode("utf-8", errors="replace"))


def _record_rejection(headers: dict[str, str], body: bytes, reason: str) -> None:
    """Keep what diagnoses a rejected request, bounded whatever a flood of them sends.

    Stored without its webhook ID (a forged request must never block the real delivery) and
    with only a short body prefix. Rejections for the same reason within
    ``REJECTION_WINDOW`` are counted on one row instead of adding rows, and at most
    ``MAX_REJECTED_ROWS`` such rows are kept.
    """
    # Only the headers that identify a delivery; a flood must not choose what is kept.
    headers = {
        name: _storable(value)[:500]
        for name, value in headers.items()
        if name in SIGNATURE_HEADERS or name in STORED_HEADERS
    }
    reason = _storable(reason)[:300]
    since = timezone.now() - REJECTION_WINDOW
    with transaction.atomic():
        recent = (
            WebhookEvent.objects.select_for_update()
            .filter(valid=False, error=reason, received_at__gte=since)
            .order_by("-received_at")
            .first()
        )
        if recent is not None:
            WebhookEvent.objects.filter(pk=recent.pk).update(
                repeats=F("repeats") + 1, headers=headers, body=_stored_body(body, 512)
            )
            return
        WebhookEvent.objects.create(
            headers=headers,
            body=_stored_body(body, STORED_REJECTED_BYTES),
            valid=False,
            status=WebhookEvent.Status.INVALID,
            error=reason,
        )
    keep = WebhookEvent.objects.filter(valid=False).order_by("-received_at")[:MAX_REJECTED_ROWS]
    WebhookEvent.objects.filter(valid=False).exclude(pk__in=keep.values("pk")).delete()


def _verification_failure(body: bytes, headers: dict[str, str], secrets: list[str]) -> str | None:
    """None when one of ``secrets`` verifies the request, otherwise why none did."""
    signed = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    reason = "no secret verified the signature"
    for secret in secrets:
        try:
            unwrap(body, headers=signed, key=secret)  # the SDK's own check (HMAC key = secret)
        except WebhookVerificationError as exc:
            reason = str(exc)
        except (ValueError, RecursionError):
            return None  # verified, but not a JSON object: processing records why
        else:
            return None
    return reason


def _new_event(webhook_id: str, headers: dict[str, str], text: str) -> WebhookEvent:
    """The (unsaved) row of a verified delivery."""
    envelope = _loose_envelope(text)
    raw_data = envelope.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    return WebhookEvent(
        webhook_id=webhook_id,
        event_type=_storable(str(envelope.get("type") or ""))[:100],
        headers=headers,
        body=_stored_body(text.encode()),
        valid=True,
        whop_channel_id=_storable(_loose_channel_id(data))[:64],
    )


def _receive_first_delivery(
    webhook_id: str, headers: dict[str, str], text: str
) -> WebhookEvent | None:
    """The usual case, in one transaction: apply the event, then store its row with the
    outcome (one INSERT; no lock, re-read or second UPDATE). None when the ID is already
    stored: the INSERT of the unique ``webhook_id`` then fails, and the whole transaction —
    effects included — rolls back, so effects never count twice. A concurrent delivery of the
    same ID waits at that INSERT until the first commits, then rolls back the same way.

    When applying fails, everything rolls back and the row is stored afterwards as failed
    (Whop retries; the retry takes the ``_record_delivery`` path).
    """
    event = _new_event(webhook_id, headers, text)
    event.attempts = 1
    try:
        with transaction.atomic():
            try:
                _apply_and_note(event, text)
            except Exception as exc:
                raise _ApplyFailed(exc) from exc
            event.save(force_insert=True)
    except IntegrityError:  # only the INSERT can raise it here: the ID is known
        return None
    except _ApplyFailed as failure:
        _fail(event, failure.cause)
        # The transaction rolled back: store what happened (a concurrent redelivery may have
        # stored it meanwhile; it then says what happened to that one).
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            pass
        return event
    _log_outcome(event)
    return event


class _ApplyFailed(Exception):
    """Applying raised: tells it apart from the INSERT's IntegrityError (a known ID)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


# --- WEBHOOK_APPLY "worker": store, answer, apply in a worker ------------------------------------

# A received event whose task was lost (broker down at publish, worker killed) is handed to a
# worker again by the sweeper this long after it arrived.
STRANDED_AFTER = timedelta(minutes=2)


def _applies_in_worker() -> bool:
    return dm_bridge_settings.WEBHOOK_APPLY == "worker" and bool(dm_bridge_settings.TASKS_ENABLED)


def _store_for_worker(webhook_id: str, headers: dict[str, str], text: str) -> JsonResponse:
    """One INSERT, then the event is a worker's: what a receiver must do to keep up with
    Whop's bursts. What needs no database (malformed, not a DM, a type not handled) is
    decided here and stored as the outcome, with no task."""
    event = _new_event(webhook_id, headers, text)
    now = timezone.now()
    try:
        payload, event.status, event.error = _triage(_strict_envelope(text))
    except MalformedWebhookEvent as exc:
        payload, event.status, event.error = None, WebhookEvent.Status.INVALID, str(exc)
    if payload is None:
        event.processed_at = now
    else:
        event.status, event.next_attempt_at = WebhookEvent.Status.RECEIVED, now + STRANDED_AFTER
    try:
        # In autocommit (this view's default) the INSERT is atomic by itself: no BEGIN/COMMIT.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            event.save(force_insert=True)
    except IntegrityError:  # the ID is known: a redelivery
        _retry_failed_now(webhook_id)
        logger.info("webhook %s is a duplicate", webhook_id)
        return JsonResponse({"status": "duplicate"})
    if event.status == WebhookEvent.Status.RECEIVED:
        transaction.on_commit(_schedule_drain)
        logger.debug("webhook %s (%s) received", webhook_id, event.event_type)
        return JsonResponse({"status": event.status})
    _log_outcome(event)
    if event.status == WebhookEvent.Status.INVALID:
        return _error(event.error, 422)
    return JsonResponse({"status": event.status})


def _retry_failed_now(webhook_id: str) -> None:
    """Whop redelivering an event a worker failed to apply: a good moment to try again."""
    due = WebhookEvent.objects.filter(
        webhook_id=webhook_id, status=WebhookEvent.Status.FAILED, next_attempt_at__isnull=False
    ).values_list("pk", flat=True)
    for pk in due:
        _hand_to_worker(pk)


def _hand_to_worker(pk: int) -> None:
    from .services.engine.scheduling import send_task

    transaction.on_commit(lambda: send_task("apply_webhook_event", pk))


# Set while a drain task is queued and not yet started: the events stored meanwhile are its, so
# a burst publishes a task per free worker instead of one per event. Expires by itself in case
# that task is lost (the sweeper then finds the events).
DRAIN_SCHEDULED = "dm_bridge:webhooks:drain-scheduled"
DRAIN_FLAG_SECONDS = 10
DRAIN_BATCH = 500  # events per drain task before it hands on to a fresh one


def _schedule_drain() -> None:
    """After an event is stored: make sure a drain task will see it (one publish per burst
    with a shared Redis; one per event without)."""
    from . import tasks

    try:
        client = _shared_redis(dm_bridge_settings.REDIS_URL or "")
        if client is not None and not client.set(
            DRAIN_SCHEDULED, 1, nx=True, ex=DRAIN_FLAG_SECONDS
        ):
            return  # a drain that has not started yet will take this event too
        tasks.apply_webhook_events.apply_async()
    except Exception:  # the broker or Redis being down must not fail the delivery: it is stored
        logger.warning("could not schedule the webhook drain; the sweeper will", exc_info=True)


@lru_cache(maxsize=4)
def _shared_redis(url: str) -> Any:
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url)


def drain_received(limit: int = DRAIN_BATCH) -> int:
    """A worker applies stored events until none is left (``tasks.apply_webhook_events``);
    how many it applied. Workers draining at once share the events (SKIP LOCKED)."""
    client = _shared_redis(dm_bridge_settings.REDIS_URL or "")
    if client is not None:
        client.delete(DRAIN_SCHEDULED)  # first: an event stored from now on schedules a drain
    applied = 0
    while applied < limit:
        event = _apply_next_received()
        if event is None:
            return applied
        _retry_later(event)
        applied += 1
    _schedule_drain()  # more may be waiting: a fresh task, so other queues get their turn
    return applied


def _apply_next_received() -> WebhookEvent | None:
    with transaction.atomic():
        locked = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookEvent.Status.RECEIVED, valid=True)
            .order_by("pk")
            .first()
        )
        if locked is None:
            return None
        _apply_locked(locked, locked.body)
    _log_outcome(locked)
    return locked


def apply_stored_event(pk: int) -> str:
    """A worker applies one stored event (``tasks.apply_webhook_event``: a retry, or the
    sweeper's); the event's status.

    Repeats are harmless: the row is locked and an event already done is left alone. A
    failure is retried with the engine's backoff until ``RETRY_HORIZON`` after the event
    arrived; then it stays failed for an admin's Reprocess."""
    event = WebhookEvent.objects.filter(pk=pk, valid=True).first()
    if event is None:
        return "missing"
    if not _process(event, event.body, unless_done=True):
        return "done"
    _retry_later(event)
    return str(event.status)


def _retry_later(event: WebhookEvent) -> None:
    if event.next_attempt_at is not None and event.status == WebhookEvent.Status.FAILED:
        from .services.engine.scheduling import send_task

        delay = (event.next_attempt_at - timezone.now()).total_seconds()
        send_task("apply_webhook_event", event.pk, countdown=max(delay, 0.0))


def _next_attempt(event: WebhookEvent, exc: BaseException) -> datetime | None:
    """When a worker tries a failed event again, or None: not a worker's, or out of time."""
    if not _applies_in_worker():
        return None
    from .services.engine.retry_policy import retry_delay

    horizon = timedelta(seconds=float(dm_bridge_settings.RETRY_HORIZON))
    now = timezone.now()
    if now - event.received_at >= horizon:
        return None
    return now + timedelta(seconds=retry_delay(event.attempts, exc))


def _record_delivery(webhook_id: str, headers: dict[str, str], text: str) -> WebhookEvent | None:
    """The row for this webhook ID, created race-safely; None when it is already handled."""
    event = _new_event(webhook_id, headers, text)
    try:
        with transaction.atomic():
            event.save(force_insert=True)
            return event
    except IntegrityError:
        event = WebhookEvent.objects.get(webhook_id=webhook_id)
    return None if event.status in DONE else event  # received or failed: process (again)


def _loose_channel_id(data: dict[str, Any]) -> str:
    channel = data.get("channel")
    value = channel.get("id") if isinstance(channel, dict) else None
    return value if isinstance(value, str) else ""


def _loose_envelope(text: str) -> dict[str, Any]:
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
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
        _apply_locked(locked, text)
    _log_outcome(locked)
    for field in OUTCOME_FIELDS:
        setattr(event, field, getattr(locked, field))
    return True


OUTCOME_FIELDS = ["status", "error", "attempts", "processed_at", "next_attempt_at"]


def _apply_locked(locked: WebhookEvent, text: str) -> None:
    """Apply ``text`` for the row locked by the caller's transaction and store the outcome."""
    locked.attempts += 1
    locked.next_attempt_at = None
    try:
        with transaction.atomic():
            _apply_and_note(locked, text)
    except Exception as exc:
        _fail(locked, exc)
        locked.next_attempt_at = _next_attempt(locked, exc)
    locked.save(update_fields=OUTCOME_FIELDS)


def _apply_and_note(event: WebhookEvent, text: str) -> None:
    """Apply ``text`` and set the outcome on ``event`` (not saved). A malformed event is
    recognised before anything is written; other errors propagate (the caller rolls back)."""
    try:
        event.status, event.error = _apply(_strict_envelope(text))
    except MalformedWebhookEvent as exc:
        # Verified but unusable: no redelivery can fix it, so it is not a failure to retry.
        event.status, event.error = WebhookEvent.Status.INVALID, str(exc)
    event.processed_at = timezone.now()


def _log_outcome(event: WebhookEvent) -> None:
    """Logged once the outcome is stored (a first delivery found to be a duplicate is not)."""
    event_type = event.event_type or "(unknown type)"
    if event.status == WebhookEvent.Status.INVALID:
        logger.warning(
            "webhook %s (%s) is malformed: %s", event.webhook_id, event_type, event.error
        )
    elif event.status != WebhookEvent.Status.FAILED:
        logger.info("webhook %s (%s) %s", event.webhook_id, event_type, event.status)


def _fail(event: WebhookEvent, exc: BaseException | None) -> None:
    event.status = WebhookEvent.Status.FAILED
    event.error = f"{type(exc).__name__}: {exc}"
    event.processed_at = None
    logger.error(
        "webhook %s (%s) failed",
        event.webhook_id,
        event.event_type or "(unknown type)",
        exc_info=exc,
    )


def _strict_envelope(text: str) -> dict[str, Any]:
    try:
        envelope = json.loads(text)
    except RecursionError:
        raise MalformedWebhookEvent("The body's JSON is nested too deeply.") from None
    except ValueError:
        raise MalformedWebhookEvent("The body is not JSON (or was cut at 64 KB).") from None
    if not isinstance(envelope, dict):
        raise MalformedWebhookEvent("The body is not a JSON object.")
    return envelope


def _apply(envelope: dict[str, Any]) -> tuple[str, str]:
    """(status, note) after applying the event; unknown types are ignored."""
    payload, status, note = _triage(envelope)
    if payload is None:
        return status, note
    return WebhookEvent.Status.PROCESSED, EVENT_HANDLERS[str(envelope["type"])](payload)


Payload = PostChatMessageCreatedPayload | PostChatReactionCreatedPayload


def _triage(envelope: dict[str, Any]) -> tuple[Payload | None, str, str]:
    """What the event is, before anything is written: (payload, "", "") for an event to
    apply, (None, status, note) for one that is ignored. Raises MalformedWebhookEvent."""
    event_type = str(envelope.get("type"))
    if event_type not in EVENT_HANDLERS:
        return None, WebhookEvent.Status.IGNORED, ""
    try:
        payload = PAYLOAD_MODELS[event_type].model_validate(envelope)
    except pydantic.ValidationError as exc:
        raise MalformedWebhookEvent(_missing(exc)) from None
    ids = (payload.data.channel.id, payload.data.message.user.id)
    if any("\x00" in value for value in ids):
        raise MalformedWebhookEvent("An ID in the event contains a NUL character.")
    if payload.data.channel.type != "direct_message":
        note = f"not a DM channel ({payload.data.channel.type})"
        return None, WebhookEvent.Status.IGNORED, note
    return payload, "", ""


def _missing(exc: pydantic.ValidationError) -> str:
    """Which fields of Whop's payload were missing or wrong, in one line."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors()[:5]
    ]
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "Not Whop's chat event shape: " + "; ".join(problems) + more


def _local_channels(whop_channel_id: str) -> list[DmChannel]:
    # Several local channels may share one Whop DM (same member set, different keys).
    return list(
        DmChannel.objects.filter(whop_channel_id=whop_channel_id).exclude(
            status=DmChannel.Status.DELETED
        )
    )


def _touch(channels: list[DmChannel], at: datetime, *, message: bool) -> None:
    """Move the channels' activity (and, for a message, last-message) time forward to ``at``."""
    # One UPDATE: each time moves to the later of its value and ``at`` (never backwards).
    moved = ["last_activity_at", "last_message_at"] if message else ["last_activity_at"]
    DmChannel.objects.filter(pk__in=[channel.pk for channel in channels]).update(
        **{name: Greatest(Coalesce(F(name), Value(at)), Value(at)) for name in moved}
    )
    for channel in channels:
        if channel.last_activity_at is None or channel.last_activity_at < at:
            channel.last_activity_at = at
        if message and (channel.last_message_at is None or channel.last_message_at < at):
            channel.last_message_at = at


def record_message(payload: PostChatMessageCreatedPayload) -> str:
    """``chat.message.created``: unread counts and activity time of every local channel on it.

    Returns a note for the event row ("unknown channel" when no local channel uses the DM).
    """
    message = payload.data.message
    channels = _local_channels(payload.data.channel.id)
    if not channels:
        return UNKNOWN_CHANNEL
    sent_at = _aware(message.created_at)
    _touch(channels, sent_at, message=True)

    members = DmMember.objects.filter(
        channel_id__in=[channel.pk for channel in channels],
        status__in=(DmMember.Status.ACTIVE, DmMember.Status.PENDING),
    )
    # Only members who had not read up to this message yet (deliveries come in any order).
    behind = Q(last_read_at__isnull=True) | Q(last_read_at__lt=sent_at)
    # The author's local users, loaded with the links (reminders name them: no second query).
    author_users = {
        link.user_id: link.user
        for link in WhopUserLink.objects.filter(whop_user_id=message.user.id).select_related("user")
    }
    authors = set(author_users)
    # One UPDATE for both: the author has read up to here, everybody else has one more unread.
    recipient = ~Q(user_id__in=authors)
    audience = payload.data.audience.user_ids
    if audience is not None:  # Whop named who it is for: only they get an unread message
        linked = WhopUserLink.objects.filter(whop_user_id__in=audience).values("user_id")
        recipient &= Q(user_id__in=linked)
    is_author = Q(user_id__in=authors)
    members.filter(behind).filter(is_author | recipient).update(
        last_read_at=Case(When(is_author, then=Value(sent_at)), default=F("last_read_at")),
        unread_count=Case(When(is_author, then=Value(0)), default=F("unread_count") + 1),
    )
    incoming.message_received(channels, payload, authors, author_users)

    for channel in channels:
        # robust: a failing receiver is logged; it must not turn a processed event into a 500.
        transaction.on_commit(_announce(channel, payload), robust=True)
    return ""


def record_reaction(payload: PostChatReactionCreatedPayload) -> str:
    """``chat.reaction.created``: a reaction is activity in the DM (no unread message)."""
    channels = _local_channels(payload.data.channel.id)
    if not channels:
        return UNKNOWN_CHANNEL
    _touch(channels, _aware(payload.timestamp), message=False)
    return ""


def _announce(channel: DmChannel, payload: PostChatMessageCreatedPayload) -> Callable[[], None]:
    def send() -> None:
        signals.dm_message_received.send(
            sender=DmChannel, channel=channel, message=payload.data.message, event=payload
        )

    return send


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


# Whop's payload model for each handled event type (the SDK's), and what applies it.
PAYLOAD_MODELS: dict[str, type[Payload]] = {
    "chat.message.created": PostChatMessageCreatedPayload,
    "chat.reaction.created": PostChatReactionCreatedPayload,
}
EVENT_HANDLERS: dict[str, Callable[[Any], str]] = {
    "chat.message.created": record_message,
    "chat.reaction.created": record_reaction,
}
