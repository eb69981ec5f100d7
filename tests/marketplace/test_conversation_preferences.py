"""The marketplace's inbox and conversation page: unread per conversation, mute and archive.

Against the emulator (dm_bridge's work inline), so a mute or archive is checked on Whop's
member record too; forms are posted with CSRF enforced.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from dm_bridge import gateway
from dm_bridge.models import DmMember
from dm_bridge.unread import unread_count
from marketplace import services

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def conversation(whop, shop, listings, buyer):
    return services.message_seller(buyer, listings[0], "http://testserver/listings/1/")


def rows(page: str) -> list[str]:
    return re.findall(r'<li data-testid="conversation-row".*?</li>', page, re.S)


def whop_member(channel, user):
    channel.refresh_from_db()  # the worker step wrote its Whop ID
    whop = gateway.get_client()
    [listed] = [
        m
        for m in whop.dm_members.list(channel_id=channel.whop_channel_id)
        if m.user_id == user.whop_link.whop_user_id
    ]
    return whop.dm_members.retrieve(listed.id)


def post_with_csrf(client: Client, page_url: str, change: str, pk: int, next_url: str = ""):
    """Load the page (it sets the CSRF cookie), then post its form as a browser would."""
    page = client.get(page_url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = {"csrfmiddlewaretoken": token, "change": change, "next": next_url}
    return client.post(reverse("conversation-preferences", args=[pk]), body)


def test_the_inbox_shows_each_conversations_unread_count_as_the_badge_counts(
    conversation, shop, buyer
):
    DmMember.objects.filter(channel=conversation.channel, user=shop.owner).update(unread_count=4)
    page = logged_in(shop.owner).get(reverse("inbox")).content.decode()
    [row] = rows(page)
    assert 'data-testid="conversation-unread"' in row and ">4<" in row
    assert unread_count(shop.owner) == 4
    # The buyer has read everything: no count on their row.
    [theirs] = rows(logged_in(buyer).get(reverse("inbox")).content.decode())
    assert "conversation-unread" not in theirs


def test_muting_from_the_conversation_page_with_csrf(conversation, buyer):
    client = logged_in(buyer, enforce_csrf_checks=True)
    url = conversation.get_absolute_url()
    refused = client.post(
        reverse("conversation-preferences", args=[conversation.pk]), {"change": "mute"}
    )
    assert refused.status_code == 403  # no CSRF token
    answer = post_with_csrf(client, url, "mute", conversation.pk, next_url=url)
    assert answer.status_code == 302 and answer["Location"] == url
    assert DmMember.objects.get(channel=conversation.channel, user=buyer).muted
    assert whop_member(conversation.channel, buyer).notification_preference == "none"
    page = client.get(url).content.decode()
    assert 'data-testid="muted-marker"' in page and 'data-testid="unmute"' in page


def test_a_muted_conversation_still_counts_as_unread_in_the_inbox(conversation, buyer):
    member = DmMember.objects.get(channel=conversation.channel, user=buyer)
    member.muted, member.unread_count = True, 2
    member.save()
    [row] = rows(logged_in(buyer).get(reverse("inbox")).content.decode())
    assert ">2<" in row and 'data-testid="muted-marker"' in row
    assert not DmMember.objects.filter(pk=member.pk).wants_reminders().exists()


def test_archiving_moves_it_to_the_archived_view_and_back(conversation, buyer, shop):
    client = logged_in(buyer, enforce_csrf_checks=True)
    inbox = reverse("inbox")
    answer = post_with_csrf(client, inbox, "archive", conversation.pk, next_url=inbox)
    assert answer.status_code == 302 and answer["Location"] == inbox
    assert whop_member(conversation.channel, buyer).status == "archived"
    page = client.get(inbox).content.decode()
    assert (
        rows(page) == []
        and 'data-testid="archived-link"' in page
        and "all your conversations are archived" in page
    )
    archived = client.get(inbox + "?archived=1").content.decode()
    [row] = rows(archived)
    assert 'data-testid="unarchive"' in row
    # Only the buyer's own inbox: the shop's owner still has it.
    assert len(rows(logged_in(shop.owner).get(inbox).content.decode())) == 1

    post_with_csrf(client, inbox + "?archived=1", "unarchive", conversation.pk, inbox)
    assert len(rows(client.get(inbox).content.decode())) == 1
    assert whop_member(conversation.channel, buyer).status == "accepted"


def test_preferences_are_for_the_conversations_own_people(conversation, make_user):
    outsider = logged_in(make_user("outsider"))
    url = reverse("conversation-preferences", args=[conversation.pk])
    assert outsider.post(url, {"change": "mute"}).status_code == 404
    assert Client().post(url, {"change": "mute"}).status_code == 302  # to the login page
    buyer = logged_in(conversation.buyer)
    assert buyer.get(url).status_code == 405
    assert buyer.post(url, {"change": "explode"}).status_code == 400
    # An outside "next" is not followed.
    answer = buyer.post(url, {"change": "mute", "next": "https://evil.example/"})
    assert answer["Location"] == conversation.get_absolute_url()
    assert not DmMember.objects.filter(muted=True).exclude(user=conversation.buyer).exists()
