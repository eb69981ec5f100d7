"""Two deliveries of one event at the same moment still have exactly one effect (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dm_bridge import webhooks
from dm_bridge.models import WebhookEvent

from .conftest import deliver, message_event, signed_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_required")]


def test_concurrent_deliveries_of_one_webhook_id_apply_it_once(
    dm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_record_message(message: dict[str, Any]) -> str:
        note = webhooks.record_message(message)
        time.sleep(0.5)  # the other delivery arrives while this one holds the row
        return note

    monkeypatch.setitem(webhooks.EVENT_HANDLERS, "chat.message.created", slow_record_message)
    body = message_event(author_id="user_alice")
    start = threading.Barrier(2)
    responses: list[Any] = []

    def post() -> None:
        start.wait()
        try:
            headers = signed_headers(body, msg_id="msg_race")  # each its own signature
            responses.append(deliver(Client(), body, headers).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(r["status"] for r in responses) == ["duplicate", "processed"]
    assert dm.member(dm.bob).unread_count == 1
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 1)
