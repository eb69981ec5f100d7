"""Issue 14's acceptance in Chromium: a reminder email for an away seller, its deep link, the
window, and mute.

alice writes to bob's shop through the marketplace's real pages; the emulator's signed
webhooks reach the live server; the reminder scan (beat's task, run here directly) sends over
SMTP to a real local server. bob, away, gets one email with the count and a link; opening it
shows the conversation and clears his unread badge; more messages within the window send
nothing; after he mutes the conversation, nothing either (while carol, not muted, is reminded).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dm_bridge import services
from dm_bridge.models import DmMember, Reminder, UnreadMessage
from marketplace.models import Conversation
from tests.browser.test_marketplace import (
    log_in,
    market,  # noqa: F401  (a fixture)
    send,
)
from tests.reminders.conftest import Mailbox, smtp_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def unread_for(user: Any) -> int:
    return UnreadMessage.objects.filter(member__user=user, reminder__isnull=True).count()


def wait_for(predicate: Any, page: Any, timeout_ms: int = 10_000) -> None:
    """Until ``predicate()`` (webhooks arrive asynchronously), letting the page run meanwhile."""
    for _ in range(timeout_ms // 100):
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {predicate}")


def test_away_seller_gets_one_reminder_with_a_deep_link_then_window_and_mute(
    market: Any,  # noqa: F811
    settings: Any,
    live_server: Any,
    new_page: Any,
    smtp_server: Mailbox,  # noqa: F811
    page_errors: list[str],
) -> None:
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "REMINDERS_ENABLED": True,
        "REMINDER_DELAY": 0,
        "REMINDER_WINDOW": 3600,
        "REMINDER_ADAPTER": "marketplace.dm_adapter.MarketplaceReminderAdapter",
        "SITE_URL": live_server.url,
    }
    bob, carol = market["bob"], market["carol"]

    alice = log_in(new_page, live_server, "alice")
    alice.goto(live_server.url + market["bike"].get_absolute_url())
    alice.get_by_role("button", name="Message seller").click()
    expect(alice).to_have_url(re.compile(r"/messages/\d+/$"))
    expect(alice.get_by_text("About: Steel touring bike")).to_be_visible()
    send(alice, "Hi! Is the touring bike still available?")
    expect(alice.get_by_text("still available?")).to_be_visible()
    wait_for(lambda: unread_for(bob) == 2, alice)  # the "About:" note and the question

    # bob is away: the scan mails him once, about both messages, with a link to the page.
    services.scan_reminders()
    services.scan_reminders()
    [mail] = smtp_server.to(bob.email)
    assert mail["Subject"].strip() == (
        "2 unread messages from Emulator Bot, Alice · alice · Bob's Bikes · Steel touring bike"
    )
    text = smtp_server.text(mail).replace("\r\n", "\n")
    assert "2 new messages from Emulator Bot, Alice" in text
    assert "  Alice: Hi! Is the touring bike still available?" in text
    conversation = Conversation.objects.get()
    link = re.findall(rf"{re.escape(live_server.url)}(/messages/\d+/)", text)
    assert link == [conversation.get_absolute_url()]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(smtp_server.to(carol.email)) == 1  # staff are reminded too
    assert smtp_server.to(market["alice"].email) == []  # never about one's own messages

    # Opening the link (logged in) shows the conversation and clears the unread count.
    bob_page = log_in(new_page, live_server, "bob")
    expect(bob_page.get_by_test_id("dm-unread")).to_have_text("2")
    bob_page.goto(live_server.url + link[0])
    expect(bob_page.get_by_text("Is the touring bike still available?")).to_be_visible()
    expect(bob_page.get_by_test_id("dm-unread")).to_be_hidden()
    wait_for(lambda: DmMember.objects.get(user=bob).unread_count == 0, bob_page)
    bob_page.goto(live_server.url + "/")  # bob goes away again (no chat open)

    # More messages within the window: no second email.
    send(alice, "I could pick it up tomorrow.")
    send(alice, "Or on Saturday?")
    wait_for(lambda: unread_for(bob) == 2, alice)
    services.scan_reminders()
    assert len(smtp_server.to(bob.email)) == 1

    # bob mutes the conversation on its page; once the window is over, only carol is reminded.
    bob_page.goto(live_server.url + link[0])
    bob_page.get_by_test_id("mute").click()
    expect(bob_page.get_by_test_id("muted-marker")).to_be_visible()
    assert DmMember.objects.get(user=bob).muted
    bob_page.goto(live_server.url + "/")
    Reminder.objects.update(created_at=timezone.now() - timedelta(hours=2))
    send(alice, "Hello?")
    wait_for(lambda: unread_for(carol) == 3, alice)
    services.scan_reminders()
    assert len(smtp_server.to(bob.email)) == 1
    assert len(smtp_server.to(carol.email)) == 2
    assert page_errors == []
