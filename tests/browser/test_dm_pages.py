"""dm_bridge's pages in real Chromium: template tags + glue + the emulator's elements.js.

Django serves test pages (``tests/web/pages.py``: ``{% dm_chat %}`` / ``{% dm_inbox %}`` with
``{% dm_unread_badge %}``) and dm_bridge's API from ``live_server``; the elements talk to the
emulator (another origin) with the user tokens the page fetched from dm_bridge. Work runs
inline in this process (the ``whop`` fixture), and the test drives a channel itself where a
worker would. Users are logged in by copying a test-client session cookie into the browser.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from dm_bridge import services
from dm_bridge.models import DmChannel, DmMember, WhopUserLink
from tests import whop_users
from tests.web.pages import use_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "ws_browser_test_webhook_secret"
HOSTILE = "</script><script>alert(1)</script>"


# --- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def site(whop: Any, live_server: Any, live_connections: None, settings: Any) -> Any:
    """The test pages on the live server, dm_bridge against the emulator."""
    use_pages(settings)
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": SECRET}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return live_server


@pytest.fixture
def browse(site: Any, new_context: Callable[..., Any]) -> Callable[[Any], Any]:
    """browse(user) → a page in a fresh browser context logged in as ``user``."""

    def open_as(user: Any) -> Any:
        client = Client()
        client.force_login(user)
        name = django_settings.SESSION_COOKIE_NAME
        context = new_context()
        context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": site.url}])
        return context.new_page()

    return open_as


def chat_url(site: Any, channel: DmChannel) -> str:
    return site.url + reverse("test-chat", args=[channel.pk])


def inbox_url(site: Any, channel: str | None = None) -> str:
    return site.url + reverse("test-inbox") + (f"?channel={channel}" if channel else "")


def message(page: Any, text: str) -> Any:
    return page.get_by_test_id("whop-chat-message").filter(
        has=page.get_by_test_id("whop-chat-message-content").get_by_text(text, exact=True)
    )


def send(page: Any, text: str) -> None:
    page.get_by_test_id("whop-chat-input").fill(text)
    page.get_by_test_id("whop-chat-input").press("Enter")
    expect(message(page, text)).to_be_visible()


def dms_item(page: Any, whop_channel_id: str) -> Any:
    return page.locator(f'[data-testid=whop-dms-item][data-channel-id="{whop_channel_id}"]')


def active_dm(key: str, users: list[Any], **kwargs: Any) -> DmChannel:
    channel = services.open_dm(key, users, **kwargs)
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE, channel.last_error
    return channel


def drive_until_active(channel: DmChannel, timeout: float = 10.0) -> DmChannel:
    """What a worker (or the sweeper) would do: drive the row until Whop has the channel."""
    deadline = time.monotonic() + timeout
    while True:
        services.drive_channel(channel.pk)
        channel.refresh_from_db()
        if channel.status == DmChannel.Status.ACTIVE:
            return channel
        if time.monotonic() > deadline:
            raise AssertionError(
                f"channel {channel.pk} still {channel.status}: {channel.last_error}"
            )
        time.sleep(0.2)


def wait_until(page: Any, condition: Callable[[], Any], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def whop_id(user: Any) -> str:
    return WhopUserLink.objects.get(user=user).whop_user_id


def post_as(whop: Any, user: Any, channel: DmChannel, content: str) -> None:
    """``user`` writes in the DM from somewhere else (their own token, straight to Whop)."""
    whop_users.post_as(whop.api_url, whop_id(user), channel.whop_channel_id, content)


# --- tests ---------------------------------------------------------------------------------------------
def test_connecting_then_chat_then_inbox_conversation(
    site: Any,
    whop: Any,
    browse: Callable[[Any], Any],
    make_user: Any,
    page_errors: list[str],
    screenshot: Any,
):
    alice, bob = make_user("alice"), make_user("bob")
    # Whop refuses to create the channel for now: the row stays pending.
    whop.add_fault("dm_channels.create", status=503)
    channel = services.open_dm("listing:1/buyer:alice", [alice, bob])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.PENDING

    a = browse(alice)
    status_polls: list[str] = []
    status_path = reverse("dm_bridge:channel-detail", args=[channel.pk])
    a.on("request", lambda r: status_polls.append(r.url) if r.url.endswith(status_path) else None)
    a.goto(chat_url(site, channel))
    status = a.get_by_test_id("dm-chat-status")
    expect(status).to_have_text("Connecting…")
    expect(status).to_be_visible()
    wait_until(a, lambda: status_polls, "the page to poll the channel's status")
    expect(status).to_have_text("Connecting…")  # still: the answer was "pending"
    expect(a.get_by_test_id("whop-chat")).to_have_count(0)

    # Whop is back; a worker drives the channel. The open page mounts the chat by itself.
    whop.clear_faults()
    channel = drive_until_active(channel)
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready", timeout=10_000)
    expect(a.get_by_test_id("whop-chat")).to_have_attribute(
        "data-channel-id", channel.whop_channel_id
    )
    expect(status).to_be_hidden()
    expect(a.get_by_test_id("whop-chat-title")).to_have_text("bob")
    send(a, "Hello Bob, is the lamp still for sale?")

    # Bob's inbox lists the DM; selecting it shows alice's message and puts it in the URL.
    b = browse(bob)
    b.goto(inbox_url(site))
    item = dms_item(b, channel.whop_channel_id)
    expect(item.get_by_test_id("whop-dms-item-name")).to_have_text("alice")
    expect(b.get_by_test_id("whop-chat-empty")).to_have_text("Select a conversation")
    item.click()
    expect(message(b, "Hello Bob, is the lamp still for sale?")).to_be_visible()
    expect(b).to_have_url(re.compile(rf"/inbox/\?channel={channel.whop_channel_id}$"))
    expect(item).to_have_attribute("aria-selected", "true")
    # Back to the inbox as it was (nothing selected), and forward to the DM again.
    b.go_back()
    expect(b).to_have_url(re.compile(r"/inbox/$"))
    expect(b.get_by_test_id("whop-chat-empty")).to_have_text("Select a conversation")
    expect(item).to_have_attribute("aria-selected", "false")
    b.go_forward()
    expect(message(b, "Hello Bob, is the lamp still for sale?")).to_be_visible()
    expect(item).to_have_attribute("aria-selected", "true")

    # Bob replies; alice sees it within 2 s.
    send(b, "Yes, it is!")
    expect(message(a, "Yes, it is!")).to_be_visible(timeout=2000)
    contents = a.get_by_test_id("whop-chat-message-content").all_inner_texts()
    assert contents == ["Hello Bob, is the lamp still for sale?", "Yes, it is!"]
    screenshot(b, "inbox")
    screenshot(a, "chat")
    assert {e["subject"] for e in whop.requests("messages.create")} == {
        f"user:{whop_id(alice)}",
        f"user:{whop_id(bob)}",
    }
    assert page_errors == []


def test_inbox_deep_link_and_url_follow_the_selection(
    site: Any, whop: Any, browse: Callable[[Any], Any], make_user: Any, page_errors: list[str]
):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    ab = active_dm("ab", [alice, bob])
    ac = active_dm("ac", [alice, carol])
    whop.seed(
        messages=[
            {"channel_id": ab.whop_channel_id, "user_id": whop_id(bob), "content": "from bob"},
            {"channel_id": ac.whop_channel_id, "user_id": whop_id(carol), "content": "from carol"},
        ]
    )
    a = browse(alice)
    a.goto(inbox_url(site, ac.whop_channel_id))
    expect(message(a, "from carol")).to_be_visible()
    expect(dms_item(a, ac.whop_channel_id)).to_have_attribute("aria-selected", "true")
    expect(dms_item(a, ab.whop_channel_id)).to_have_attribute("aria-selected", "false")
    expect(a.get_by_test_id("dm-inbox")).to_have_attribute(
        "data-dm-bridge-selected", ac.whop_channel_id
    )

    dms_item(a, ab.whop_channel_id).click()
    expect(message(a, "from bob")).to_be_visible()
    expect(message(a, "from carol")).to_have_count(0)
    expect(a).to_have_url(re.compile(rf"\?channel={ab.whop_channel_id}$"))
    expect(dms_item(a, ab.whop_channel_id)).to_have_attribute("aria-selected", "true")

    # Back goes to the previous selection (popstate), forward again.
    a.go_back()
    expect(a).to_have_url(re.compile(rf"\?channel={ac.whop_channel_id}$"))
    expect(message(a, "from carol")).to_be_visible()
    expect(dms_item(a, ac.whop_channel_id)).to_have_attribute("aria-selected", "true")
    a.go_forward()
    expect(message(a, "from bob")).to_be_visible()

    # A deep link that is not a channel ID is ignored: nothing selected, no error.
    a.goto(inbox_url(site, "</script><script>alert(1)</script>"))
    expect(a.get_by_test_id("whop-chat-empty")).to_have_text("Select a conversation")
    expect(a.get_by_test_id("whop-dms-item")).to_have_count(2)
    assert page_errors == []


def test_unread_badge_follows_webhooks_and_reading(
    site: Any, whop: Any, browse: Callable[[Any], Any], make_user: Any, page_errors: list[str]
):
    whop.add_webhook(site.url + reverse("dm_bridge:webhook"), SECRET)
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    ab = active_dm("ab", [alice, bob])
    bc = active_dm("bc", [bob, carol])
    b = browse(bob)
    b.goto(inbox_url(site, bc.whop_channel_id))  # bob is reading another conversation
    badge = b.get_by_test_id("dm-unread")
    expect(b.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
    expect(badge).to_be_hidden()

    post_as(whop, alice, ab, "Are you there?")
    # The emulator's webhook reaches dm_bridge's receiver on the live server...
    deadline = time.monotonic() + 10
    while DmMember.objects.get(channel=ab, user=bob).unread_count != 1:
        assert time.monotonic() < deadline, whop.webhook_deliveries()
        time.sleep(0.1)
    # ...and the open page's badge picks the count up (it polls every 15 s).
    expect(badge).to_have_text("1", timeout=20_000)
    expect(badge).to_be_visible()
    expect(badge).to_have_attribute("aria-label", "1 unread message")

    # Opening that chat marks it read: the badge goes back to 0 and hides.
    dms_item(b, ab.whop_channel_id).click()
    expect(message(b, "Are you there?")).to_be_visible()
    expect(badge).to_be_hidden()
    expect(badge).to_have_text("0")
    assert DmMember.objects.get(channel=ab, user=bob).unread_count == 0
    assert DmMember.objects.get(channel=ab, user=alice).unread_count == 0  # the author's own

    # Past 99 the badge says "99+", as the server renders it (the count stays exact).
    many = active_dm("many", [alice, bob, carol])
    DmMember.objects.filter(channel=many, user=bob).update(unread_count=150)
    expect(badge).to_have_text("99+", timeout=20_000)
    expect(badge).to_have_attribute("aria-label", "More than 99 unread messages")
    assert page_errors == []


def test_tokens_are_refreshed_before_they_expire(
    site: Any,
    whop: Any,
    browse: Callable[[Any], Any],
    make_user: Any,
    settings: Any,
    page_errors: list[str],
):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TOKEN_LIFETIME": 6, "TOKEN_REFRESH_MARGIN": 1}
    alice, bob = make_user("alice"), make_user("bob")
    ab = active_dm("ab", [alice, bob])
    a = browse(alice)
    token_path = reverse("dm_bridge:chat-token")
    posts: list[float] = []
    tokens: list[str] = []
    a.on(
        "request",
        lambda r: (
            posts.append(time.monotonic())
            if r.method == "POST" and r.url.endswith(token_path)
            else None
        ),
    )
    a.on(
        "response",
        lambda r: tokens.append(r.json()["token"]) if r.url.endswith(token_path) and r.ok else None,
    )
    started = time.monotonic()
    a.goto(chat_url(site, ab))
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
    send(a, "before the refresh")
    wait_until(
        a,
        lambda: len(set(tokens)) >= 2,
        "a second token",
        timeout=10 - (time.monotonic() - started),
    )
    assert len(posts) >= 2
    assert posts[1] - started <= 10
    # The chat keeps working on the new token (the old one expires a moment later).
    a.wait_for_timeout(1500)
    send(a, "after the refresh")
    log = whop.requests("messages.create")
    assert [e["status"] for e in log] == [200, 200]
    assert {e["subject"] for e in log} == {f"user:{whop_id(alice)}"}
    assert whop.requests("access_tokens.create")[-1]["status"] == 200
    assert page_errors == []


def test_hostile_names_render_inert(
    site: Any, whop: Any, browse: Callable[[Any], Any], make_user: Any, page_errors: list[str]
):
    alice = make_user("alice", first_name=HOSTILE)
    bob = make_user("bob", first_name=HOSTILE, last_name="")
    named = active_dm("named", [alice, bob], custom_name=HOSTILE)
    dialogs: list[str] = []

    b = browse(bob)
    b.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    b.goto(inbox_url(site, named.whop_channel_id))
    expect(b.get_by_test_id("whop-chat-title")).to_have_text(HOSTILE)
    expect(dms_item(b, named.whop_channel_id).get_by_test_id("whop-dms-item-name")).to_have_text(
        HOSTILE
    )
    send(b, HOSTILE)

    a = browse(alice)
    a.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    a.goto(chat_url(site, named))
    expect(message(a, HOSTILE)).to_be_visible()
    expect(message(a, HOSTILE).get_by_test_id("whop-chat-message-author")).to_have_text(HOSTILE)
    for page in (a, b):
        page.wait_for_timeout(300)
        assert page.locator("main script:not([src]):not([type='application/json'])").count() == 0
    assert dialogs == []
    assert page_errors == []


def test_pages_say_so_when_the_elements_script_cannot_load(
    site: Any, whop: Any, browse: Callable[[Any], Any], make_user: Any, page_errors: list[str]
):
    alice, bob = make_user("alice"), make_user("bob")
    ab = active_dm("ab", [alice, bob])
    a = browse(alice)
    a.route(whop.elements_url, lambda route: route.abort())  # offline / blocked by an extension
    for url, container in ((chat_url(site, ab), "dm-chat"), (inbox_url(site), "dm-inbox")):
        a.goto(url)
        status = a.get_by_test_id(container).get_by_role("status")
        expect(status).to_have_text(
            "Chat could not load. Check your connection and reload the page."
        )
        expect(status).to_be_visible()
    # The only errors are the two failed loads of the blocked script.
    assert len(page_errors) == 2, page_errors
    assert all("Failed to load resource" in e for e in page_errors), page_errors


def test_an_unconfirmed_email_gets_a_clear_answer_not_a_spinner(
    site: Any, whop: Any, browse: Callable[[Any], Any], make_user: Any
):
    alice, bob = make_user("alice"), make_user("bob")
    ab = active_dm("ab", [alice, bob])
    eve = make_user("eve", verified=False)  # e.g. signed up with someone else's address
    DmMember.objects.create(channel=ab, user=eve, status="active")  # as if she were let in
    page = browse(eve)
    for url, container in ((chat_url(site, ab), "dm-chat"), (inbox_url(site), "dm-inbox")):
        page.goto(url)
        status = page.get_by_test_id(container).get_by_role("status")
        expect(status).to_have_text("Confirm your email address to use messages.")
        expect(page.get_by_test_id(container)).to_have_attribute(
            "data-dm-bridge-status", "unavailable"
        )
        assert page.get_by_test_id("whop-chat-input").count() == 0  # nothing was mounted
    assert not WhopUserLink.objects.filter(user=eve).exists()
    assert [r for r in whop.requests("access_tokens.create")] == []
