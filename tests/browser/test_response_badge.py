"""Contact detection and the response-time badge in Chromium, from the emulator's real
webhooks: a shop's badge appears on its pages once enough buyers were answered; a buyer's
message with an email address lands in the moderation queue and, in ``warn``, the automated
reminder appears in the DM.

Django is pytest-django's live server, dm_bridge's work runs inline against a real emulator
process, and every message (buyers', the shop's, the app's reminder) reaches the site as the
emulator's signed ``chat.message.created`` webhook.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import expect

from dm_bridge.conf import dm_bridge_settings
from dm_bridge.models import ConversationResponse, Report
from marketplace import services
from marketplace.models import Listing, Shop
from tests.browser.helpers import log_in
from tests.whop_users import post_as_member as post_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "ws_test_response_badge_secret"


@pytest.fixture
def market(whop: Any, settings: Any, webhook_receiver_url: str, make_user: Any) -> dict[str, Any]:
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "WEBHOOK_SECRET": SECRET,
        "USER_ADAPTER": "marketplace.dm_adapter.MarketplaceUserAdapter",
        "POLICY": "marketplace.dm_policy.MarketplacePolicy",
        "MODERATION_ADAPTER": "marketplace.moderation.MarketplaceModerationAdapter",
        "RESPONSE_TIME_ADAPTER": "marketplace.dm_adapter.MarketplaceResponseTimeAdapter",
        "RESPONSE_TIME_MIN_ANSWERED": 3,
        "CONTACT_DETECTION": "warn",
    }
    whop.add_webhook(webhook_receiver_url, SECRET)
    bob = make_user("bob")
    make_user("admin", is_staff=True, is_superuser=True)
    shop = Shop.objects.create(name="Bob's Bikes", owner=bob)
    bike = Listing.objects.create(shop=shop, title="Red racing bike", price=Decimal("300"))
    return {"bob": bob, "shop": shop, "bike": bike}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Webhooks arrive asynchronously (the emulator delivers them to the live server)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_shops_badge_appears_after_enough_answered_conversations(
    market: Any, whop: Any, live_server: Any, new_page: Any, make_user: Any, page_errors: list[str]
) -> None:
    shop, bob = market["shop"], market["bob"]
    answered = ConversationResponse.objects.filter(replied_at__isnull=False)
    visitor = log_in(new_page, live_server, make_user("visitor").get_username())
    expect(visitor.get_by_text("Signed in as visitor")).to_be_visible()
    for i in range(3):
        if i == 2:  # two answered: not enough yet (the setting says 3)
            visitor.goto(live_server.url + shop.get_absolute_url())
            expect(visitor.get_by_role("heading", name="Bob's Bikes")).to_be_visible()
            expect(visitor.get_by_test_id("response-badge")).to_have_count(0)
        buyer = make_user(f"buyer{i}")
        conversation = services.message_seller(buyer, market["bike"], "http://testserver/l/")
        post_as(whop, buyer, conversation.channel, "Hi! Is the racing bike still for sale?")
        wait_until(lambda: ConversationResponse.objects.count() == i + 1, "the question")
        post_as(whop, bob, conversation.channel, "Yes, it is.")
        wait_until(lambda: answered.count() == i + 1, "the answer")

    visitor.goto(live_server.url + shop.get_absolute_url())
    badge = visitor.get_by_test_id("response-badge")
    expect(badge).to_contain_text("Usually replies within an hour")
    expect(badge).to_contain_text("Answers 100% of conversations within 24 hours")
    visitor.goto(live_server.url + market["bike"].get_absolute_url())
    expect(visitor.get_by_test_id("response-badge")).to_contain_text("Usually replies within")
    assert page_errors == []


def test_an_email_in_a_message_is_flagged_and_answered_by_the_reminder(
    market: Any, whop: Any, live_server: Any, new_page: Any, make_user: Any, page_errors: list[str]
) -> None:
    make_user("erin")
    erin = log_in(new_page, live_server, "erin")
    expect(erin.get_by_text("Signed in as erin")).to_be_visible()
    erin.goto(live_server.url + market["bike"].get_absolute_url())
    erin.get_by_role("button", name="Message seller").click()
    expect(erin).to_have_url(re.compile(r"/messages/\d+/$"))
    chat = erin.get_by_test_id("whop-chat")
    erin.get_by_test_id("whop-chat-input").fill("Cheaper if we skip the site? erin (at) gmail.com")
    erin.get_by_test_id("whop-chat-send").click()
    expect(chat.get_by_text("skip the site?")).to_be_visible()

    # The webhook files a detector report and posts the reminder, which erin's chat shows.
    reminder = str(dm_bridge_settings.CONTACT_WARNING_MESSAGE)
    expect(chat.get_by_text(re.compile("A reminder from this site"))).to_be_visible(timeout=10_000)
    report = Report.objects.get()
    assert (report.source, report.category, report.reporter) == ("detector", "off_platform", None)
    sent = [r["body"]["content"] for r in whop.requests("messages.create")]
    assert sent.count(reminder) == 1

    # The admin finds it in the moderation queue, with the message in context.
    admin = log_in(new_page, live_server, "admin", "/admin/login/?next=/admin/")
    admin.get_by_role("link", name="Reports").click()
    row = admin.locator("#result_list tbody tr").first
    expect(row).to_contain_text("Asking to pay off-platform")
    expect(row).to_contain_text("Automatic detection")
    row.locator("th a").click()
    reported = admin.get_by_test_id("context-messages").get_by_test_id("reported-message")
    expect(reported).to_contain_text("erin (at) gmail.com")
    assert page_errors == []
