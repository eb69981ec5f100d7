"""The marketplace's pages (block and unblock buttons, the report form with its picker of the
latest messages, the inbox filter) and the moderation queue in Django admin, through Django's
test client with CSRF enforced."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from dm_bridge.models import ModerationAction, Report

pytestmark = pytest.mark.django_db(transaction=True)
CSRF = "c" * 32


def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies["csrftoken"] = CSRF
    return client


def form_post(client: Client, url: str, data: dict):
    return client.post(url, {"csrfmiddlewaretoken": CSRF, **data})


def test_block_and_unblock_from_the_conversation_page(whop, open_conversation, buyer, shop):
    conversation = open_conversation(buyer)
    page = conversation.get_absolute_url()
    erin = browser(buyer)
    assert 'data-testid="block"' in erin.get(page).content.decode()
    block_url = reverse("conversation-block", args=[conversation.pk])
    assert erin.post(block_url, {"action": "block"}).status_code == 403  # no CSRF token
    done = form_post(erin, block_url, {"action": "block"})
    assert done.status_code == 302
    html = erin.get(page).content.decode()
    assert "This conversation is closed. You blocked Bob&#x27;s Bikes" in html
    assert 'data-testid="unblock"' in html and "whop-chat" not in html
    assert conversation.get_absolute_url() not in erin.get(reverse("inbox")).content.decode()

    # The shop's side: closed, and not a word about who did it.
    bob_html = browser(shop.owner).get(page).content.decode()
    assert "This conversation is closed. You can't write in it right now." in bob_html
    assert "blocked" not in bob_html.lower() and 'data-testid="block"' not in bob_html
    shop_page = erin.get(shop.get_absolute_url()).content.decode()
    assert 'data-testid="unblock-shop"' in shop_page

    assert form_post(erin, block_url, {"action": "unblock"}).status_code == 302
    assert "This conversation is closed" not in erin.get(page).content.decode()
    assert conversation.get_absolute_url() in erin.get(reverse("inbox")).content.decode()


def test_the_team_finds_the_buyers_it_blocked_on_the_shop_page(
    whop, open_conversation, buyer, shop
):
    conversation = open_conversation(buyer)
    carol = browser(shop.staff.get())
    form_post(carol, reverse("conversation-block", args=[conversation.pk]), {"action": "block"})
    html = browser(shop.owner).get(shop.get_absolute_url()).content.decode()
    assert 'data-testid="blocked-buyers"' in html and "erin" in html
    erin_html = browser(buyer).get(shop.get_absolute_url()).content.decode()
    assert 'data-testid="block-shop"' in erin_html  # she did not block: nothing else to see


def test_report_a_message_picked_from_the_latest_ones(
    whop, open_conversation, buyer, shop, post_as, make_user
):
    conversation = open_conversation(buyer)
    wanted = post_as(shop.owner, conversation.channel, "Send the money to my bank, skip the site")
    url = reverse("conversation-report", args=[conversation.pk])
    erin = browser(buyer)
    html = erin.get(url).content.decode()
    assert f'value="{wanted}"' in html and "skip the site" in html
    assert browser(make_user("mallory")).get(url).status_code == 404
    bad = form_post(erin, url, {"category": "nonsense"})
    assert bad.status_code == 400 and not Report.objects.exists()
    done = form_post(erin, url, {"category": "off_platform", "note": "bank", "message": wanted})
    assert done.status_code == 302
    report = Report.objects.get()
    assert (report.whop_message_id, report.category, report.reporter) == (
        wanted,
        "off_platform",
        buyer,
    )


def test_reports_from_the_page_are_limited_per_hour(
    whop, settings, open_conversation, buyer, post_as, shop
):
    settings.MARKETPLACE_REPORTS_PER_HOUR = 1
    conversation = open_conversation(buyer)
    url = reverse("conversation-report", args=[conversation.pk])
    erin = browser(buyer)
    assert form_post(erin, url, {"category": "spam"}).status_code == 302
    assert form_post(erin, url, {"category": "spam"}).status_code == 302  # the same report
    other = post_as(shop.owner, conversation.channel, "buy now")
    limited = form_post(erin, url, {"category": "spam", "message": other})
    assert limited.status_code == 429 and Report.objects.count() == 1


def test_the_queue_shows_the_messages_in_context_and_an_action_needs_a_reason(
    whop, open_conversation, buyer, shop, post_as, make_user
):
    conversation = open_conversation(buyer)
    post_as(buyer, conversation.channel, "Is it still for sale?")
    bad = post_as(shop.owner, conversation.channel, "Yes, pay me by gift card")
    report = Report.objects.create(
        channel=conversation.channel, category="scam", reporter=buyer, whop_message_id=bad
    )
    admin = browser(make_user("admin", is_staff=True, is_superuser=True))
    url = reverse("admin:dm_bridge_report_change", args=[report.pk])
    html = admin.get(url).content.decode()
    assert "Is it still for sale?" in html
    reported = re.search(r'data-testid="reported-message".*?</tr>', html, re.S)
    assert reported and "gift card" in reported.group(0)

    missing = form_post(admin, url, {"action": "warn", "reason": ""})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    assert not ModerationAction.objects.exists()
    done = form_post(
        admin, url, {"action": "warn", "reason": "gift cards are a scam", "moderation_action": "1"}
    )
    assert done.status_code == 302
    action = ModerationAction.objects.get()
    assert (action.kind, action.reason) == ("warn", "gift cards are a scam")
    log = admin.get(reverse("admin:dm_bridge_moderationaction_changelist")).content.decode()
    assert "gift cards are a scam" in log
    queue = admin.get(reverse("admin:dm_bridge_report_changelist")).content.decode()
    assert "Acted on" in queue

    viewer = make_user("viewer", is_staff=True)  # staff without the permission to moderate
    assert form_post(browser(viewer), url, {"action": "dismiss", "reason": "x"}).status_code == 403
