"""The marketplace in Chromium: a buyer messages a shop, its owner and staff answer.

Django runs as pytest-django's live server (real HTTP), dm_bridge's work runs inline against a
real emulator process, the emulator's signed webhooks reach the live server, and the pages use
the real elements glue. The README's screenshots come from this test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from whop_sdk import PostChatMessageCreatedPayload

from dm_bridge.models import WebhookEvent
from marketplace.models import Conversation, Listing, Shop, ShopStaff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "ws_test_marketplace_secret"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture
def market(whop: Any, settings: Any, webhook_receiver_url: str, make_user: Any) -> dict[str, Any]:
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "WEBHOOK_SECRET": SECRET,
        # The shop's identity (a member of its DMs) is vouched for by the marketplace's adapter.
        "USER_ADAPTER": "marketplace.dm_adapter.MarketplaceUserAdapter",
    }
    whop.add_webhook(webhook_receiver_url, SECRET)
    people = {name: make_user(name, first_name=name.title()) for name in ("alice", "bob", "carol")}
    shop = Shop.objects.create(name="Bob's Bikes", owner=people["bob"], description="Bikes.")
    ShopStaff.objects.create(shop=shop, user=people["carol"])
    bike = Listing.objects.create(
        shop=shop, title="Steel touring bike", price=Decimal("420"), description="56 cm frame."
    )
    lamp = Listing.objects.create(shop=shop, title="Bike lamp", price=Decimal("25"))
    return {**people, "shop": shop, "bike": bike, "lamp": lamp}


def log_in(new_page: Any, live_server: Any, username: str) -> Any:
    page = new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-123456")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
    return page


def send(page: Any, text: str) -> None:
    page.get_by_test_id("whop-chat-input").fill(text)
    page.get_by_test_id("whop-chat-send").click()


def test_buyer_and_shop_team_chat_round_trip(
    market: Any, live_server: Any, new_page: Any, page_errors: list[str], screenshot: Any
) -> None:
    alice = log_in(new_page, live_server, "alice")
    alice.goto(live_server.url + "/?q=touring")
    alice.get_by_role("link", name="Steel touring bike").click()
    alice.get_by_role("button", name="Message seller").click()
    expect(alice).to_have_url(re.compile(r"/messages/\d+/$"))
    expect(alice.get_by_test_id("context-card")).to_contain_text("Steel touring bike")
    chat = alice.get_by_test_id("whop-chat")
    expect(chat.get_by_test_id("whop-chat-message-content").first).to_contain_text(
        "About: Steel touring bike"
    )
    send(alice, "Hi! Is the touring bike still available?")
    expect(chat.get_by_text("still available?")).to_be_visible()

    # The owner finds it in the inbox, selects it, sees the question and replies.
    bob = log_in(new_page, live_server, "bob")
    bob.goto(live_server.url + "/messages/")
    bob.get_by_test_id("whop-dms-item").filter(has_text="alice").click()
    expect(bob).to_have_url(re.compile(r"\?channel=feed_"))
    expect(bob.get_by_text("Is the touring bike still available?")).to_be_visible()
    send(bob, "Yes! Come by on Saturday to try it.")
    # The buyer sees the reply within 2 s (the element polls every second).
    expect(alice.get_by_text("Come by on Saturday")).to_be_visible(timeout=2000)

    # Staff see the conversation too, with an unread badge until they open it.
    carol = log_in(new_page, live_server, "carol")
    badge = carol.get_by_test_id("dm-unread")
    expect(badge).to_have_text("3")  # the "About:" note, the question and the reply (webhooks)
    # ...delivered in Whop's own payload shape, read by the SDK's model, and all applied.
    events = WebhookEvent.objects.filter(event_type="chat.message.created")
    assert {e.status for e in events} == {"processed"} and events.count() >= 3
    for event in events:
        payload = PostChatMessageCreatedPayload.model_validate_json(event.body)
        assert payload.data.channel.type == "direct_message"
        assert "channel_id" not in json.loads(event.body)["data"]["message"]
    carol.goto(live_server.url + "/messages/")
    carol.get_by_test_id("whop-dms-item").first.click()
    expect(carol.get_by_text("Come by on Saturday")).to_be_visible()
    expect(carol.get_by_test_id("dm-unread")).to_be_hidden()

    # Asking about a second listing reuses the DM with a context message.
    alice.goto(live_server.url + market["lamp"].get_absolute_url())
    alice.get_by_role("button", name=re.compile("Ask Bob's Bikes about this")).click()
    expect(alice.get_by_test_id("context-card")).to_contain_text("Bike lamp")
    expect(alice.get_by_text("About: Bike lamp")).to_be_visible()
    assert Conversation.objects.count() == 1

    bob.reload()
    bob.get_by_test_id("whop-dms-item").first.click()
    expect(bob.get_by_text("About: Bike lamp")).to_be_visible()
    _publish(screenshot(bob, "inbox"), "marketplace-inbox.png")
    _publish(screenshot(alice, "conversation"), "marketplace-conversation.png")
    assert page_errors == []


def test_removed_staff_lose_the_conversation(
    market: Any, live_server: Any, new_page: Any, page_errors: list[str]
) -> None:
    from marketplace import services

    conversation = services.message_seller(
        market["alice"], market["bike"], live_server.url + market["bike"].get_absolute_url()
    )
    carol = log_in(new_page, live_server, "carol")
    carol.goto(live_server.url + conversation.get_absolute_url())
    expect(carol.get_by_test_id("whop-chat-input")).to_be_visible()

    services.remove_staff(market["shop"], market["carol"])
    response = carol.goto(live_server.url + conversation.get_absolute_url())
    assert response is not None and response.status == 404
    carol.goto(live_server.url + "/messages/")
    expect(carol.get_by_text("No conversations yet")).to_be_visible()
    # The only console errors are the browser reporting that 404 page.
    assert [e for e in page_errors if conversation.get_absolute_url() not in e] == []


def _publish(path: Path, name: str) -> None:
    """Copy a screenshot to docs/images/ for the README (`make screenshots` sets the switch)."""
    if os.environ.get("DM_BRIDGE_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / name)
