"""The stand-in elements.js, driven in real Chromium against a real emulator process.

The test page is served by a small HTTP server on another port than the emulator (so every
API call is cross-origin and exercises CORS). Its token function calls that server's
``/token`` endpoint, which mints a user access token with the company API key — the same
shape as a host app's backend.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID, EmulatorProcess

pytestmark = pytest.mark.browser

PAGE_TEMPLATE = Path(__file__).with_name("pages") / "elements_test.html"
SCOPES = ["dms:read", "dms:message:manage", "dms:channel:manage"]
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


# --- the host page's server ---------------------------------------------------------------------
class PageServer:
    """Serves the test page and a /token endpoint (the "app backend") on its own origin."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.minted: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/elements_test.html":
                    html = PAGE_TEMPLATE.read_text().replace(
                        "__ELEMENTS_URL__", server.emulator.elements_url
                    )
                    self._send(200, html.encode(), "text/html; charset=utf-8")
                elif url.path == "/token":
                    status, payload = server.mint(query.get("user", ""), query.get("ttl"))
                    self._send(status, json.dumps(payload).encode(), "application/json")
                else:
                    self._send(404, b"not found", "text/plain")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def mint(self, user_id: str, ttl: str | None) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {
            "company_id": DEFAULT_COMPANY_ID,
            "user_id": user_id,
            "scoped_actions": SCOPES,
        }
        if ttl:
            expires = datetime.now(UTC) + timedelta(seconds=float(ttl))
            body["expires_at"] = expires.isoformat().replace("+00:00", "Z")
        response = httpx.post(
            f"{self.emulator.api_url}/access_tokens",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            json=body,
            timeout=10,
        )
        self.minted.append({"user_id": user_id, "ttl": ttl, "status": response.status_code})
        return response.status_code, response.json()

    def url(self, **params: str) -> str:
        return f"{self.origin}/elements_test.html?{urlencode(params)}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def page_server(whop_emulator: EmulatorProcess) -> Iterator[PageServer]:
    with PageServer(whop_emulator) as server:
        yield server


@pytest.fixture
def world(emulator: EmulatorProcess) -> dict[str, Any]:
    """Users Alice, Bob, Carol; a DM Alice+Bob and a DM Alice+Carol."""
    users = emulator.seed(
        users=[
            {"username": "alice", "name": "Alice Archer"},
            {"username": "bob", "name": "Bob Baker"},
            {"username": "carol", "name": "Carol Cole"},
        ]
    )["users"]
    alice, bob, carol = (u["id"] for u in users)
    channels = emulator.seed(
        dm_channels=[
            {"company_id": DEFAULT_COMPANY_ID, "member_user_ids": [alice, bob]},
            {"company_id": DEFAULT_COMPANY_ID, "member_user_ids": [alice, carol]},
        ]
    )["dm_channels"]
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "ab": channels[0]["id"],
        "ac": channels[1]["id"],
    }


def events(page: Any, source: str | None = None, type_: str | None = None) -> list[dict[str, Any]]:
    found = page.evaluate("window.__events")
    return [
        e
        for e in found
        if (source is None or e["source"] == source) and (type_ is None or e["type"] == type_)
    ]


def wait_for_event(page: Any, source: str, type_: str, timeout: float = 8.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(page, source, type_)
        if found:
            return found[-1]
        page.wait_for_timeout(100)
    raise AssertionError(f"no {source}:{type_} event within {timeout}s; events: {events(page)}")


def open_chat(new_page: Any, page_server: PageServer, user: str, channel: str, **extra: str) -> Any:
    page = new_page()
    page.goto(page_server.url(user=user, channel=channel, company=DEFAULT_COMPANY_ID, **extra))
    return page


def message(page: Any, text: str) -> Any:
    return page.get_by_test_id("whop-chat-message").filter(
        has=page.get_by_test_id("whop-chat-message-content").get_by_text(text, exact=True)
    )


def send(page: Any, text: str, *, with_button: bool = False) -> None:
    page.get_by_test_id("whop-chat-input").fill(text)
    if with_button:
        page.get_by_test_id("whop-chat-send").click()
    else:
        page.get_by_test_id("whop-chat-input").press("Enter")


# --- tests -------------------------------------------------------------------------------------------
def test_two_users_chat_live(
    world: dict[str, Any],
    emulator: EmulatorProcess,
    page_server: PageServer,
    new_page: Any,
    screenshot: Any,
    page_errors: list[str],
) -> None:
    a = open_chat(new_page, page_server, world["alice"], world["ab"])
    api_requests: list[Any] = []
    a.on("request", lambda r: api_requests.append(r) if "/api/v1/" in r.url else None)
    console: list[str] = []
    a.on("console", lambda m: console.append(m.text))
    b = open_chat(new_page, page_server, world["bob"], world["ab"])
    for page, other in ((a, "Bob Baker"), (b, "Alice Archer")):
        expect(page.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
        expect(page.get_by_test_id("whop-chat-title")).to_have_text(other)
        expect(page.get_by_test_id("whop-chat-empty")).to_have_text("No messages yet")
        wait_for_event(page, "chat", "ready")
        wait_for_event(page, "session", "ready")

    # Alice sends with Enter; it shows on her side at once, and the event carries the message.
    send(a, "Hello Bob, is the bike still available?")
    mine = message(a, "Hello Bob, is the bike still available?")
    expect(mine).to_be_visible()
    expect(mine).to_have_attribute("data-author-id", world["alice"])
    expect(mine).to_have_class(re.compile(r"\bwhop-emu-msg-own\b"))
    expect(a.get_by_test_id("whop-chat-input")).to_have_value("")
    sent = wait_for_event(a, "chat", "messageSent")["detail"]
    assert sent["content"] == "Hello Bob, is the bike still available?"
    assert sent["channelId"] == world["ab"]
    assert sent["id"] == mine.get_attribute("data-message-id")
    assert events(a, "chat:onEvent", "messageSent"), "onEvent option must see messageSent too"

    # Bob's page picks it up by itself within 2 s, with Alice's name.
    theirs = message(b, "Hello Bob, is the bike still available?")
    expect(theirs).to_be_visible(timeout=2000)
    expect(theirs.get_by_test_id("whop-chat-message-author")).to_have_text("Alice Archer")
    expect(theirs).to_have_attribute("data-message-id", sent["id"])
    expect(b.get_by_test_id("whop-chat-empty")).to_be_hidden()

    # Bob replies (Send button, a multi-line message via Shift+Enter); Alice sees it within 2 s.
    b.get_by_test_id("whop-chat-input").fill("Yes!")
    b.get_by_test_id("whop-chat-input").press("Shift+Enter")
    b.get_by_test_id("whop-chat-input").press_sequentially("Come by tomorrow.")
    expect(b.get_by_test_id("whop-chat-input")).to_have_value("Yes!\nCome by tomorrow.")
    b.get_by_test_id("whop-chat-send").click()
    reply = message(a, "Yes!\nCome by tomorrow.")
    expect(reply).to_be_visible(timeout=2000)
    expect(reply).to_have_attribute("data-author-id", world["bob"])
    expect(reply.get_by_test_id("whop-chat-message-author")).to_have_text("Bob Baker")
    # Oldest → newest.
    contents = a.get_by_test_id("whop-chat-message-content").all_inner_texts()
    assert contents == ["Hello Bob, is the bike still available?", "Yes!\nCome by tomorrow."]

    # Hostile content is text, nothing runs.
    send(a, HOSTILE)
    expect(message(b, HOSTILE)).to_be_visible(timeout=5000)
    expect(message(a, HOSTILE)).to_be_visible()
    for page in (a, b):
        assert page.evaluate("window.__pwned") is None
        assert (
            page.locator(
                "[data-testid=whop-chat-messages] img, [data-testid=whop-chat-messages] script"
            ).count()
            == 0
        )
        assert (
            message(page, HOSTILE).get_by_test_id("whop-chat-message-content").text_content()
            == HOSTILE
        )

    # Every API call is cross-origin, with the user's token and the pinned API version.
    assert api_requests
    for request in api_requests:
        headers = request.all_headers()
        assert headers["authorization"].startswith("Bearer ey"), request.url
        assert headers["api-version-date"] == "2026-10-15-1"
        assert request.url.startswith(emulator.api_url)
    posts = [r for r in api_requests if r.method == "POST"]
    assert posts and all(r.all_headers()["content-type"] == "application/json" for r in posts)
    log = emulator.requests("messages.create")
    assert {e["subject"] for e in log} == {f"user:{world['alice']}", f"user:{world['bob']}"}
    assert not [c for c in console if "eyJ" in c], "a token reached the console"
    assert page_errors == []

    screenshot(a, "alice")
    screenshot(b, "bob")


def test_delete_profile_and_link_events(
    world: dict[str, Any], page_server: PageServer, new_page: Any, page_errors: list[str]
) -> None:
    a = open_chat(new_page, page_server, world["alice"], world["ab"], mount="chat")
    b = open_chat(new_page, page_server, world["bob"], world["ab"], mount="chat")
    expect(b.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
    send(a, "Photos: https://example.com/bike?id=1. Thoughts?")
    send(a, "oops, wrong chat")
    # Only the main chat test holds the 2 s live-update promise; here we test events.
    expect(message(b, "oops, wrong chat")).to_be_visible(timeout=5000)

    # Links are real anchors built from text, opening in a new tab; clicks emit linkClick.
    link = message(b, "Photos: https://example.com/bike?id=1. Thoughts?").locator("a")
    expect(link).to_have_text("https://example.com/bike?id=1")
    expect(link).to_have_attribute("href", "https://example.com/bike?id=1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    # Stay offline: cancel the navigation (our capture listener runs before the element's).
    b.evaluate("document.addEventListener('click', (e) => e.preventDefault(), true)")
    link.click()
    assert wait_for_event(b, "chat", "linkClick")["detail"] == {
        "url": "https://example.com/bike?id=1"
    }

    # Clicking an author emits profileClick with the user id.
    message(b, "oops, wrong chat").get_by_test_id("whop-chat-message-author").click()
    assert wait_for_event(b, "chat", "profileClick")["detail"] == {"id": world["alice"]}

    # Only your own messages can be deleted; the other side sees it vanish by polling.
    expect(message(b, "oops, wrong chat").get_by_test_id("whop-chat-message-delete")).to_have_count(
        0
    )
    doomed = message(a, "oops, wrong chat")
    doomed_id = doomed.get_attribute("data-message-id")
    doomed.hover()
    doomed.get_by_test_id("whop-chat-message-delete").click()
    expect(doomed).to_have_count(0)
    assert wait_for_event(a, "chat", "messageDeleted")["detail"] == {"id": doomed_id}
    expect(message(b, "oops, wrong chat")).to_have_count(0, timeout=2500)
    expect(b.get_by_test_id("whop-chat-message")).to_have_count(1)
    assert page_errors == []


def test_dms_list_selects_and_switches_chat(
    world: dict[str, Any],
    emulator: EmulatorProcess,
    page_server: PageServer,
    new_page: Any,
    screenshot: Any,
) -> None:
    a = open_chat(new_page, page_server, world["alice"], world["ab"])
    items = a.get_by_test_id("whop-dms-item")
    expect(items).to_have_count(2)
    wait_for_event(a, "dms", "ready")
    ab = a.locator(f"[data-testid=whop-dms-item][data-channel-id={world['ab']}]")
    ac = a.locator(f"[data-testid=whop-dms-item][data-channel-id={world['ac']}]")
    expect(ab.get_by_test_id("whop-dms-item-name")).to_have_text("Bob Baker")
    expect(ac.get_by_test_id("whop-dms-item-name")).to_have_text("Carol Cole")
    expect(ab.get_by_test_id("whop-dms-item-activity")).to_have_text("just now")
    expect(ab).to_have_attribute("aria-selected", "true")
    expect(ac).to_have_attribute("aria-selected", "false")

    ac.click()
    selected = wait_for_event(a, "dms", "channelSelected")
    assert selected["detail"] == {"id": world["ac"]}
    expect(ac).to_have_attribute("aria-selected", "true")
    expect(ab).to_have_attribute("aria-selected", "false")
    # The page wires channelSelected to chat.updateOptions({channelId}): the chat follows.
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-channel-id", world["ac"])
    expect(a.get_by_test_id("whop-chat-title")).to_have_text("Carol Cole")
    send(a, "Hi Carol")
    expect(message(a, "Hi Carol")).to_be_visible()
    assert wait_for_event(a, "chat", "messageSent")["detail"]["channelId"] == world["ac"]

    # The most recently active channel moves to the top on the next refresh (≤ 2 s).
    expect(items.first).to_have_attribute("data-channel-id", world["ac"], timeout=4000)

    # updateOptions({selectedChannel}) moves the highlight without an event.
    before = len(events(a, "dms", "channelSelected"))
    a.evaluate(f"window.__dms.updateOptions({{selectedChannel: {json.dumps(world['ab'])}}})")
    expect(ab).to_have_attribute("aria-selected", "true")
    expect(ac).to_have_attribute("aria-selected", "false")
    assert len(events(a, "dms", "channelSelected")) == before

    # Bob's list has only his channel; a channel created later shows up by polling.
    b = open_chat(new_page, page_server, world["bob"], world["ab"])
    expect(b.get_by_test_id("whop-dms-item")).to_have_count(1)
    emulator.seed(
        dm_channels=[
            {"company_id": DEFAULT_COMPANY_ID, "member_user_ids": [world["bob"], world["carol"]]}
        ]
    )
    expect(b.get_by_test_id("whop-dms-item")).to_have_count(2, timeout=4000)
    screenshot(a, "alice-inbox")


def test_non_member_sees_error_state(
    world: dict[str, Any], page_server: PageServer, new_page: Any
) -> None:
    c = open_chat(new_page, page_server, world["carol"], world["ab"])
    error = c.get_by_test_id("whop-chat-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("You don't have access to this conversation")
    expect(c.get_by_test_id("whop-chat-input")).to_be_hidden()
    expect(c.get_by_test_id("whop-chat-message")).to_have_count(0)
    detail = wait_for_event(c, "chat", "error")["detail"]
    assert detail["status"] in (403, 404)
    # Carol's own inbox only lists her channel with Alice.
    expect(c.get_by_test_id("whop-dms-item")).to_have_count(1)
    expect(c.get_by_test_id("whop-dms-item").first).to_have_attribute(
        "data-channel-id", world["ac"]
    )


def test_empty_dms_list_and_custom_empty_state(
    emulator: EmulatorProcess, page_server: PageServer, new_page: Any
) -> None:
    (loner,) = emulator.seed(users=[{"username": "loner", "name": "Lone Wolf"}])["users"]
    page = new_page()
    page.goto(page_server.url(user=loner["id"], company=DEFAULT_COMPANY_ID, mount="dms"))
    expect(page.get_by_test_id("whop-dms-empty")).to_have_text("No conversations yet")
    expect(page.get_by_test_id("whop-dms-item")).to_have_count(0)


def test_token_refresh_before_expiry(
    world: dict[str, Any], page_server: PageServer, new_page: Any
) -> None:
    # A 4 s token with a 1 s margin → refreshed ~3 s after it was minted (and the chat keeps working).
    a = open_chat(
        new_page, page_server, world["alice"], world["ab"], ttl="4", margin="1", mount="chat"
    )
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
    delay = a.evaluate("window.__session.refreshDelayMs")
    assert delay is not None and 1000 <= delay <= 3200, delay
    refreshed = wait_for_event(a, "session", "tokenRefreshed", timeout=8)
    assert refreshed["detail"] == {"isString": True}
    assert a.evaluate("window.__tokenCalls") >= 2
    assert not events(a, "session", "tokenRefreshError")
    # Several refresh cycles later the chat still reads and writes.
    a.wait_for_timeout(4500)
    assert a.evaluate("window.__tokenCalls") >= 3
    send(a, "still here")
    expect(message(a, "still here")).to_be_visible()
    assert not events(a, "chat", "error")


def test_401_refreshes_token_once_and_retries(
    world: dict[str, Any], page_server: PageServer, new_page: Any
) -> None:
    # The first token is garbage: the API answers 401, the session fetches a new one and retries.
    a = open_chat(new_page, page_server, world["alice"], world["ab"], bad_first="1", mount="chat")
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
    expect(a.get_by_test_id("whop-chat-title")).to_have_text("Bob Baker")
    assert a.evaluate("window.__tokenCalls") == 2
    wait_for_event(a, "session", "tokenRefreshed")
    assert not events(a, "chat", "error")


def test_token_function_failure_emits_errors(
    world: dict[str, Any], page_server: PageServer, new_page: Any
) -> None:
    a = open_chat(new_page, page_server, "user_doesnotexist", world["ab"], mount="chat")
    wait_for_event(a, "session", "tokenRefreshError")
    wait_for_event(a, "session", "error")
    expect(a.get_by_test_id("whop-chat-error")).to_be_visible()


def test_api_contract(world: dict[str, Any], page_server: PageServer, new_page: Any) -> None:
    a = open_chat(new_page, page_server, world["alice"], world["ab"], mount="none")
    result = a.evaluate(
        """() => {
          const out = {};
          const s = window.__session;
          try { s.createElement("search-element", {}); out.unknown = "no error"; } catch (e) { out.unknown = e.message; }
          const box = document.createElement("div");
          box.innerHTML = "<p>occupied</p>";
          document.body.appendChild(box);
          const el = s.createElement("chat-element", {channelId: "feed_x"});
          try { el.mount(box); out.nonEmpty = "no error"; } catch (e) { out.nonEmpty = e.message; }
          try { el.mount("#does-not-exist"); out.missing = "no error"; } catch (e) { out.missing = e.message; }
          out.emulator = WhopElements.emulator === true;
          out.apiBase = window.__elements.apiBaseUrl;
          return out;
        }"""
    )
    assert "unknown element type" in result["unknown"]
    assert "must be empty" in result["nonEmpty"]
    assert "no element matches" in result["missing"]
    assert result["emulator"] is True
    assert result["apiBase"] == page_server.emulator.api_url

    # mount → unmount removes the DOM and stops polling; the container can be reused.
    a.evaluate(
        f"""() => {{
          const box = document.getElementById("chat");
          window.__c = window.__session.createElement("chat-element", {{channelId: {json.dumps(world["ab"])}}});
          window.__c.mount(box);
        }}"""
    )
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")
    a.evaluate("window.__c.unmount()")
    expect(a.get_by_test_id("whop-chat")).to_have_count(0)
    requests: list[str] = []
    a.on("request", lambda r: requests.append(r.url))
    a.wait_for_timeout(2500)
    assert not [u for u in requests if "/messages" in u], requests
    a.evaluate("window.__c.mount('#chat')")
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready")


def test_history_pages_and_seeded_messages(
    world: dict[str, Any], emulator: EmulatorProcess, page_server: PageServer, new_page: Any
) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    emulator.seed(
        messages=[
            {
                "channel_id": world["ab"],
                "user_id": world["alice"] if i % 2 else world["bob"],
                "content": f"history {i:02d}",
                "created_at": (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            }
            for i in range(55)
        ]
    )
    a = open_chat(new_page, page_server, world["alice"], world["ab"], mount="chat")
    expect(a.get_by_test_id("whop-chat-message")).to_have_count(50)
    contents = a.get_by_test_id("whop-chat-message-content").all_inner_texts()
    assert contents == [f"history {i:02d}" for i in range(5, 55)]  # the latest 50, oldest first
    # The newest message is scrolled into view.
    expect(message(a, "history 54")).to_be_in_viewport()
    a.get_by_test_id("whop-chat-load-older").click()
    expect(a.get_by_test_id("whop-chat-message")).to_have_count(55)
    contents = a.get_by_test_id("whop-chat-message-content").all_inner_texts()
    assert contents == [f"history {i:02d}" for i in range(55)]
    expect(a.get_by_test_id("whop-chat-load-older")).to_be_hidden()
    # Polling (latest page only) must not drop the older messages.
    a.wait_for_timeout(1500)
    expect(a.get_by_test_id("whop-chat-message")).to_have_count(55)


def test_transient_server_errors_recover(
    world: dict[str, Any], emulator: EmulatorProcess, page_server: PageServer, new_page: Any
) -> None:
    # Initial load fails once (500): error state + one `error` event, then it recovers by itself.
    emulator.add_fault("dm_channels.retrieve", mode="error", status=500, times=1)
    a = open_chat(new_page, page_server, world["alice"], world["ab"], mount="chat")
    expect(a.get_by_test_id("whop-chat")).to_have_attribute("data-state", "ready", timeout=5000)
    assert [e["detail"]["status"] for e in events(a, "chat", "error")] == [500]
    expect(a.get_by_test_id("whop-chat-error")).to_be_hidden()

    # A failed send keeps the text and says so; a 429 while polling is waited out.
    emulator.add_fault("messages.create", mode="error", status=503, times=1)
    send(a, "first try")
    expect(a.get_by_test_id("whop-chat-send-error")).to_contain_text("Message not sent")
    expect(a.get_by_test_id("whop-chat-input")).to_have_value("first try")
    a.get_by_test_id("whop-chat-send").click()
    expect(message(a, "first try")).to_be_visible()
    expect(a.get_by_test_id("whop-chat-send-error")).to_be_hidden()
    emulator.add_fault("messages.list", mode="error", status=429, times=1, retry_after=1)
    emulator.seed(
        messages=[{"channel_id": world["ab"], "user_id": world["bob"], "content": "after the 429"}]
    )
    expect(message(a, "after the 429")).to_be_visible(timeout=5000)
