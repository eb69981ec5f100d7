"""Mute and archive from the marketplace's pages, in Chromium.

alice messages Bob's Bikes; bob sees the conversation's unread count in his inbox, mutes it
there (a POST form), archives it from the conversation page, finds it under "Archived", and
alice's next message brings it back to his inbox. Whop's member record follows each step
(read back with the official SDK). The live server, the emulator process and its signed
webhooks are real, as in test_marketplace.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from dm_bridge import gateway
from dm_bridge.models import DmMember
from marketplace.models import Conversation
from tests.browser.test_marketplace import log_in, market, send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["market"]  # the fixture, shared with test_marketplace.py


def whop_member(conversation: Conversation, user: Any) -> Any:
    conversation.channel.refresh_from_db()
    whop = gateway.get_client()
    [listed] = [
        m
        for m in whop.dm_members.list(channel_id=conversation.channel.whop_channel_id)
        if m.user_id == user.whop_link.whop_user_id
    ]
    return whop.dm_members.retrieve(listed.id)


def test_bob_mutes_and_archives_and_a_new_message_brings_it_back(
    market: Any, live_server: Any, new_page: Any, page_errors: list[str]
) -> None:
    alice = log_in(new_page, live_server, "alice")
    alice.goto(live_server.url + market["bike"].get_absolute_url())
    alice.get_by_role("button", name="Message seller").click()
    expect(alice).to_have_url(re.compile(r"/messages/\d+/$"))
    chat = alice.get_by_test_id("whop-chat")
    expect(chat.get_by_test_id("whop-chat-message-content").first).to_contain_text("About:")
    send(alice, "Does it come with a rack?")
    expect(chat.get_by_text("come with a rack?")).to_be_visible()
    conversation = Conversation.objects.get()
    bob_member = DmMember.objects.filter(channel=conversation.channel, user=market["bob"])

    bob = log_in(new_page, live_server, "bob")
    expect(bob.get_by_test_id("dm-unread")).to_have_text("2")  # the "About:" note + question
    bob.goto(live_server.url + "/messages/")
    row = bob.get_by_test_id("conversation-row").filter(has_text="alice")
    expect(row.get_by_test_id("conversation-unread")).to_have_text("2")  # as the badge

    # Mute from the inbox: still listed and still counted, marked muted; Whop is told.
    row.get_by_test_id("mute").click()
    expect(bob.get_by_text("Muted: no email reminders")).to_be_visible()
    row = bob.get_by_test_id("conversation-row").filter(has_text="alice")
    expect(row.get_by_test_id("muted-marker")).to_be_visible()
    expect(row.get_by_test_id("conversation-unread")).to_have_text("2")
    assert bob_member.get().muted
    assert whop_member(conversation, market["bob"]).notification_preference == "none"

    # Archive from the conversation page: it leaves the inbox.
    row.get_by_role("link", name=re.compile("alice")).click()
    expect(bob).to_have_url(re.compile(rf"/messages/{conversation.pk}/$"))
    bob.get_by_test_id("archive").click()
    expect(bob.get_by_test_id("archived-marker")).to_be_visible()
    assert whop_member(conversation, market["bob"]).status == "archived"
    bob.goto(live_server.url + "/messages/")
    expect(bob.get_by_test_id("conversation-row")).to_have_count(0)
    bob.get_by_test_id("archived-link").click()
    expect(bob.get_by_test_id("conversation-row")).to_have_count(1)
    expect(bob.get_by_test_id("unarchive")).to_be_visible()

    # alice writes again: the webhook brings it back to bob's inbox, still muted.
    send(alice, "Also, is the price negotiable?")
    expect(chat.get_by_text("price negotiable?")).to_be_visible()
    for _ in range(40):  # the emulator delivers the webhook within moments
        if not bob_member.get().archived:
            break
        bob.wait_for_timeout(250)
    bob.goto(live_server.url + "/messages/")
    row = bob.get_by_test_id("conversation-row").filter(has_text="alice")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("muted-marker")).to_be_visible()
    # Opening the conversation page had marked it read: only the new message is unread.
    expect(row.get_by_test_id("conversation-unread")).to_have_text("1")
    expect(bob.get_by_test_id("dm-unread")).to_have_text("1")
    remote = whop_member(conversation, market["bob"])
    assert (remote.status, remote.notification_preference) == ("accepted", "none")
    # carol (staff) was never affected by bob's choices.
    carol_member = DmMember.objects.get(channel=conversation.channel, user=market["carol"])
    assert not carol_member.muted and not carol_member.archived
    assert page_errors == []
