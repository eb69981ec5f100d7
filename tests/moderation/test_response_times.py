"""Response times from signed webhooks: first question and first team answer per conversation,
the shop's summary, the badge's threshold and window, and a constant query count per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dm_bridge.models import ConversationResponse, ResponseSummary
from dm_bridge.services.response_times import describe_duration, response_badge

from .webhook_posts import SECRET, deliver_message

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = timedelta(hours=1)


@pytest.fixture
def timing(whop, settings):
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "WEBHOOK_SECRET": SECRET,
        "RESPONSE_TIME_ADAPTER": "marketplace.dm_adapter.MarketplaceResponseTimeAdapter",
        "RESPONSE_TIME_MIN_ANSWERED": 5,
    }
    return whop


@pytest.fixture
def converse(timing, open_conversation, make_user, shop, client):
    """converse(name, asked_hours_ago, reply_after_hours or None) → the conversation."""

    def run(name: str, asked_ago: float, reply_after: float | None):
        buyer = make_user(name)
        conversation = open_conversation(buyer)
        asked = datetime.now(UTC) - asked_ago * HOUR
        deliver_message(client, conversation.channel, buyer, "Is it still available?", asked)
        if reply_after is not None:
            staff = shop.team()[-1]
            deliver_message(
                client, conversation.channel, staff, "Yes it is!", asked + reply_after * HOUR
            )
        return conversation

    return run


def test_the_badge_appears_after_enough_answered_conversations(converse, shop, client) -> None:
    for i, reply_after in enumerate([1, 0.5, 3, 30]):
        converse(f"buyer{i}", 48, reply_after)
    assert response_badge(shop) is None  # four answered: not enough yet
    assert "response-badge" not in client.get(shop.get_absolute_url()).content.decode()
    converse("buyer4", 48, 2)
    badge = response_badge(shop)
    assert badge is not None
    # Sorted 0.5 h, 1 h, 2 h, 3 h, 30 h: the median is 2 h; 4 of 5 within a day.
    assert (badge.median_seconds, badge.answered, badge.conversations) == (7200, 5, 5)
    assert badge.text == "Usually replies within 2 hours"
    assert badge.share_text == "Answers 80% of conversations within 24 hours"
    page = client.get(shop.get_absolute_url()).content.decode()
    assert "Usually replies within 2 hours" in page
    listing = shop.listings.first()
    assert (
        "Usually replies within 2 hours" in client.get(f"/listings/{listing.pk}/").content.decode()
    )


def test_only_the_first_team_answer_after_the_first_question_counts(
    timing, open_conversation, buyer, shop, client
) -> None:
    conversation = open_conversation(buyer)
    channel = conversation.channel
    start = datetime.now(UTC) - 10 * HOUR
    deliver_message(client, channel, shop.owner, "Welcome!", start - HOUR)  # before any question
    assert not ConversationResponse.objects.filter(channel=channel).exists()
    deliver_message(client, channel, buyer, "Hi?", start + HOUR)
    deliver_message(client, channel, None, "A note from the app", start + 2 * HOUR)  # not a reply
    deliver_message(client, channel, buyer, "Hello??", start + 3 * HOUR)  # no new clock
    # Delivered late: an earlier question moves the start back.
    deliver_message(client, channel, buyer, "First!", start)
    deliver_message(client, channel, shop.owner, "Sorry, here now", start + 4 * HOUR)
    deliver_message(client, channel, shop.owner, "Anything else?", start + 5 * HOUR)
    row = ConversationResponse.objects.get(channel=channel)
    assert (row.asked_at, row.replied_at, row.reply_seconds) == (start, start + 4 * HOUR, 4 * 3600)
    assert (row.responder_type.model, row.responder_id) == ("shop", str(shop.pk))
    # A late-delivered earlier answer replaces the later one.
    deliver_message(client, channel, shop.owner, "Quick one", start + 2 * HOUR)
    row.refresh_from_db()
    assert row.reply_seconds == 2 * 3600
    summary = ResponseSummary.objects.get(responder_id=str(shop.pk))
    assert (summary.answered, summary.median_reply_seconds) == (1, 2 * 3600)


def test_the_window_and_the_24_hour_wait_decide_what_counts(converse, shop) -> None:
    for i in range(5):
        converse(f"fast{i}", 48, 1)
    converse("old", 100 * 24, 50)  # asked 100 days ago: out of the 90-day window
    converse("waiting", 30, None)  # unanswered for 30 h: counts against the share
    converse("fresh", 2, None)  # unanswered for 2 h: not yet counted
    badge = response_badge(shop)
    assert badge is not None
    assert (badge.answered, badge.conversations) == (5, 6)
    assert badge.text == "Usually replies within an hour"
    assert badge.share_text == "Answers 83% of conversations within 24 hours"


def test_a_stale_summary_is_re_slid_on_read(converse, shop, settings) -> None:
    for i in range(5):
        converse(f"b{i}", 48, 1)
    ResponseSummary.objects.update(computed_at=datetime.now(UTC) - 2 * HOUR, answered=0)
    assert response_badge(shop) is not None  # re-computed: 5 answered again
    assert ResponseSummary.objects.get().answered == 5


def test_query_count_per_page_view_is_constant(converse, shop, client) -> None:
    def queries(url: str) -> int:
        client.get(url)  # warm caches (content types, sessions)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    listing_url = f"/listings/{shop.listings.first().pk}/"
    empty = (queries(shop.get_absolute_url()), queries(listing_url))
    for i in range(5):
        converse(f"b{i}", 48, 1)
    five = (queries(shop.get_absolute_url()), queries(listing_url))
    for i in range(5, 9):
        converse(f"b{i}", 30, i)
    nine = (queries(shop.get_absolute_url()), queries(listing_url))
    assert "Usually replies" in client.get(shop.get_absolute_url()).content.decode()
    assert empty == five == nine


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "within an hour"),
        (3600, "within an hour"),
        (3601, "within 2 hours"),
        (23 * 3600, "within 23 hours"),
        (24 * 3600, "within a day"),
        (30 * 3600, "within 2 days"),
    ],
)
def test_describe_duration_rounds_up(seconds: int, text: str) -> None:
    assert describe_duration(seconds) == text
