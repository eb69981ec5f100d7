"""Query counts of the pages and endpoints that grow with a seller's conversations.

Each is measured at 10 and at 200 conversations (bulk-written rows: a buyer, an active DM with
buyer, seller and the shop's identity as members, a marketplace ``Conversation``) and must be
the same — constant, not growing — and small. Times are bench/web_scale.py's job, never here.
Also the inbox's window: 50 conversations a page, older ones behind a cursor link (no JS).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dm_bridge.models import DmChannel, DmMember, WhopUserLink
from marketplace.models import Conversation, Listing, Shop
from tests.webhooks.conftest import SECRET, deliver, message_event

from .conftest import logged_in

SMALL, LARGE = 10, 200
MOST_QUERIES = 12  # any endpoint here; a query per conversation would blow far past it


class Seller:
    """A seller whose shop has ``count`` conversations; ``grow_to`` adds more in bulk."""

    def __init__(self, make_user: Any) -> None:
        self.user = make_user("seller")
        self.shop = Shop(name="Query Bikes", owner=self.user)
        self.shop.save()
        self.listing = Listing.objects.create(shop=self.shop, title="Bike", price=10)
        self.count = 0

    def grow_to(self, total: int) -> None:
        user_model = get_user_model()
        buyers = [
            user_model(username=f"qbuyer{i}", email=f"qbuyer{i}@example.com")
            for i in range(self.count, total)
        ]
        for buyer in buyers:
            buyer.set_unusable_password()
        buyers = user_model.objects.bulk_create(buyers)
        company = str(settings.DM_BRIDGE.get("COMPANY_ID") or "biz_test")
        channels = DmChannel.objects.bulk_create(
            DmChannel(
                company_id=company,
                key=f"shop:{self.shop.pk}/buyer:{b.pk}",
                whop_channel_id=f"feed_q{b.pk}",
                status=DmChannel.Status.ACTIVE,
            )
            for b in buyers
        )
        DmMember.objects.bulk_create(
            DmMember(
                channel=c,
                user=u,
                status=DmMember.Status.ACTIVE,
                unread_count=1 if u == self.user and i % 3 == 0 else 0,
                archived=u == self.user and i % 7 == 6,
            )
            for i, (b, c) in enumerate(zip(buyers, channels, strict=True))
            for u in (b, self.user, self.shop.identity)
        )
        Conversation.objects.bulk_create(
            Conversation(buyer=b, shop=self.shop, channel=c, listing=self.listing)
            for b, c in zip(buyers, channels, strict=True)
        )
        self.count = total


def count_queries(call: Callable[[], Any]) -> int:
    call()  # warm: session, caches
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.content[:300]
    return len(queries)


def assert_constant(seller: Seller, call: Callable[[], Any]) -> None:
    seller.grow_to(SMALL)
    small = count_queries(call)
    seller.grow_to(LARGE)
    large = count_queries(call)
    assert small == large, f"{small} queries at {SMALL} conversations, {large} at {LARGE}"
    assert large <= MOST_QUERIES


@pytest.fixture
def seller(db: Any, make_user: Any) -> Seller:
    return Seller(make_user)


def test_inbox_queries_do_not_grow_with_conversations(seller: Seller) -> None:
    client = logged_in(seller.user)
    assert_constant(seller, lambda: client.get(reverse("inbox")))


def test_archived_view_queries_do_not_grow(seller: Seller) -> None:
    client = logged_in(seller.user)
    assert_constant(seller, lambda: client.get(reverse("inbox") + "?archived=1"))


def test_older_inbox_page_queries_do_not_grow(seller: Seller) -> None:
    client = logged_in(seller.user)
    seller.grow_to(LARGE)
    cursor = client.get(reverse("inbox")).context["older_cursor"]
    assert cursor
    first = count_queries(lambda: client.get(reverse("inbox")))
    older = count_queries(lambda: client.get(reverse("inbox"), {"before": cursor}))
    assert first == older


def test_unread_queries_do_not_grow(seller: Seller) -> None:
    client = logged_in(seller.user)
    assert_constant(seller, lambda: client.get(reverse("dm_bridge:unread")))


def test_channel_list_queries_do_not_grow(seller: Seller) -> None:
    client = logged_in(seller.user)
    assert_constant(seller, lambda: client.get(reverse("dm_bridge:channel-list")))
    # the page is bounded whatever is asked for
    response = client.get(reverse("dm_bridge:channel-list"), {"page_size": 1000})
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_cached_chat_token_queries_do_not_grow(whop: Any, make_user: Any) -> None:
    seller = Seller(make_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller.user)
    client.get(reverse("inbox"))  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    assert_constant(
        seller, lambda: client.post(reverse("dm_bridge:chat-token"), HTTP_X_CSRFTOKEN=csrf)
    )


def group_dm(members: int) -> str:
    """A DM of ``members`` linked users; returns its Whop channel ID."""
    user_model = get_user_model()
    tag = uuid.uuid4().hex[:6]
    users = user_model.objects.bulk_create(
        user_model(username=f"g{tag}{i}", email=f"g{tag}{i}@example.com") for i in range(members)
    )
    WhopUserLink.objects.bulk_create(
        WhopUserLink(user=u, whop_user_id=f"user_{tag}{i}", status="active")
        for i, u in enumerate(users)
    )
    channel = DmChannel.objects.create(
        company_id="biz_test", key=f"group:{tag}", whop_channel_id=f"feed_{tag}", status="active"
    )
    DmMember.objects.bulk_create(
        DmMember(channel=channel, user=u, status=DmMember.Status.ACTIVE) for u in users
    )
    return channel.whop_channel_id


def test_webhook_queries_do_not_grow_with_members(db: Any, settings: Any) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": SECRET}
    client = Client()
    counts = []
    for members in (2, 50):
        feed = group_dm(members)
        author = f"user_{feed.removeprefix('feed_')}0"
        at = datetime.now(UTC)
        deliver(client, message_event(channel_id=feed, author_id=author, created_at=at))
        with CaptureQueriesContext(connection) as queries:
            body = message_event(
                channel_id=feed, author_id=author, created_at=at + timedelta(seconds=1)
            )
            response = deliver(client, body)
        assert response.json() == {"status": "processed"}
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    # every member but the author got both messages
    member = DmMember.objects.filter(channel__whop_channel_id=feed).exclude(
        user__username__endswith="0"
    )
    assert set(member.values_list("unread_count", flat=True)) == {2}


# --- the inbox window -----------------------------------------------------------------------


def rows(response: Any) -> list[int]:
    return [c.pk for c in response.context["conversations"]]


def test_inbox_shows_a_window_and_older_ones_behind_a_cursor(seller: Seller) -> None:
    from marketplace.views import INBOX_PAGE_SIZE

    seller.grow_to(INBOX_PAGE_SIZE + 15)
    client = logged_in(seller.user)
    first = client.get(reverse("inbox"))
    shown = rows(first)
    assert len(shown) == INBOX_PAGE_SIZE
    older_link = first.context["older_cursor"]
    assert f"before={older_link}" in first.content.decode()
    second = client.get(reverse("inbox"), {"before": older_link})
    assert 0 < len(rows(second)) < INBOX_PAGE_SIZE
    assert second.context["older_cursor"] == ""
    assert 'data-testid="inbox-newest"' in second.content.decode()
    # together: every inbox conversation once, newest first
    inbox = Conversation.objects.exclude(
        channel__members__user=seller.user, channel__members__archived=True
    ).order_by("-updated_at", "-pk")
    assert shown + rows(second) == list(inbox.values_list("pk", flat=True))


def test_archived_window_links_keep_the_archived_view(seller: Seller) -> None:
    seller.grow_to(7 * 60)  # one in seven archived: 60 archived conversations
    client = logged_in(seller.user)
    page = client.get(reverse("inbox"), {"archived": "1"})
    assert page.context["older_cursor"]
    assert "?archived=1&amp;before=" in page.content.decode()


@pytest.mark.parametrize(
    "cursor", ["x", "1.2.3", "-5.3", "1" * 40 + ".1", "9" * 18 + ".1", json.dumps([1])]
)
def test_a_cursor_this_never_made_is_a_400(seller: Seller, cursor: str) -> None:
    seller.grow_to(3)
    response = logged_in(seller.user).get(reverse("inbox"), {"before": cursor})
    assert response.status_code == 400
