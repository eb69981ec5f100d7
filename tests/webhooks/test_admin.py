"""The webhook events admin: read-only pages for operators and the "Reprocess" action."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from whop_sdk import PostChatMessageCreatedPayload

from dm_bridge.models import DmChannel, WebhookEvent

from .conftest import deliver, message_event, signed_headers

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:dm_bridge_webhookevent_changelist"


def reprocess(admin_client: Any, events: list[WebhookEvent]) -> list[str]:
    data = {"action": "reprocess", ACTION_CHECKBOX_NAME: [str(e.pk) for e in events]}
    response = admin_client.post(reverse(CHANGELIST), data)
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def events(client: Any, dm: Any) -> dict[str, WebhookEvent]:
    body = message_event(content="hello <b>bob</b>")
    deliver(client, body, signed_headers(body, msg_id="msg_ok"))
    deliver(client, body, signed_headers(body, msg_id="msg_bad", secret="ws_wrong"))
    reaction = message_event(event_type="payment.succeeded")
    deliver(client, reaction, signed_headers(reaction, msg_id="msg_ignored"))
    return {
        "ok": WebhookEvent.objects.get(webhook_id="msg_ok"),
        "invalid": WebhookEvent.objects.get(status="invalid"),
    }


def test_changelist_filters_search_and_change_page_render(
    admin_client: Any, events: dict[str, WebhookEvent]
) -> None:
    changelist = reverse(CHANGELIST)
    response = admin_client.get(changelist)
    assert response.status_code == 200
    assert b"msg_ok" in response.content and b"Reprocess" in response.content
    for query in ("?status__exact=invalid", "?valid__exact=1", "?q=feed_test_1"):
        assert admin_client.get(changelist + query).status_code == 200
    assert b"msg_ok" in admin_client.get(changelist + "?q=msg_ok").content
    assert admin_client.get(reverse("admin:dm_bridge_webhookevent_add")).status_code == 403

    page = admin_client.get(reverse("admin:dm_bridge_webhookevent_change", args=[events["ok"].pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "\n  &quot;type&quot;: &quot;chat.message.created&quot;" in html  # pretty-printed
    assert "hello &lt;b&gt;bob&lt;/b&gt;" in html  # escaped, never rendered as HTML
    assert "&quot;webhook-id&quot;: &quot;msg_ok&quot;" in html
    assert 'name="_save"' not in html  # read-only


def test_reprocess_applies_failed_and_unknown_channel_events_only(
    client: Any, admin_client: Any, dm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dm_bridge import webhooks

    def crash(message: dict[str, Any]) -> str:
        raise RuntimeError("boom")

    monkeypatch.setitem(webhooks.EVENT_HANDLERS, "chat.message.created", crash)
    assert deliver(client, message_event()).status_code == 500
    monkeypatch.undo()
    failed = WebhookEvent.objects.get(status="failed")
    later = message_event(channel_id="feed_later")
    deliver(client, later)
    unknown = WebhookEvent.objects.get(error="unknown channel")
    forged = message_event()
    deliver(client, forged, signed_headers(forged, secret="ws_wrong"))
    invalid = WebhookEvent.objects.get(status="invalid")

    texts = reprocess(admin_client, [failed])
    failed.refresh_from_db()
    assert failed.status == "processed" and failed.attempts == 2
    assert dm.member(dm.bob).unread_count == 1
    assert any("processed" in t for t in texts)

    # Already processed: reprocessing would count the message twice, so it is skipped.
    assert any("already processed" in t for t in reprocess(admin_client, [failed]))
    assert dm.member(dm.bob).unread_count == 1

    assert any("not verified" in t for t in reprocess(admin_client, [invalid]))

    DmChannel.objects.filter(pk=dm.channel.pk).update(whop_channel_id="feed_later")
    reprocess(admin_client, [unknown])
    unknown.refresh_from_db()
    assert (unknown.status, unknown.error) == ("processed", "")
    assert dm.member(dm.bob).unread_count == 2


def test_reprocess_reports_a_failure(
    client: Any, admin_client: Any, dm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dm_bridge import webhooks

    deliver(client, message_event(event_type="payment.succeeded"))
    event = WebhookEvent.objects.get()

    def crash(message: dict[str, Any]) -> str:
        raise RuntimeError("still broken")

    monkeypatch.setitem(webhooks.EVENT_HANDLERS, "payment.succeeded", crash)
    monkeypatch.setitem(webhooks.PAYLOAD_MODELS, "payment.succeeded", PostChatMessageCreatedPayload)
    texts = reprocess(admin_client, [event])
    event.refresh_from_db()
    assert (event.status, event.error) == ("failed", "RuntimeError: still broken")
    assert any("still broken" in t for t in texts)
