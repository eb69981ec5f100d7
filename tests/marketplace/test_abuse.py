"""Issue 10, items 13, 9 and 5: look-alike shop names, hostile listing titles in the DM's
Markdown, the shop-slug race, and per-user limits on new conversations and shops."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dm_bridge.models import DmOutboxMessage
from marketplace import services
from marketplace.models import Conversation, Listing, Shop, ShopNameTaken
from marketplace.shop_names import name_skeleton, normalize_name

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- item 13: names and Markdown ---------------------------------------------------------


def test_names_are_normalised():
    hostile = "  Ｂob's\u202e Bikes\u200b\u2066 \n\t Shop\u00ad "
    assert normalize_name(hostile) == "Bob's Bikes Shop"


@pytest.mark.parametrize(
    "look_alike",
    [
        "Bob's Bikes",
        "BOB'S  BIKES",
        "Bob’s Bikes",  # typographic apostrophe
        "\u0412ob's Bikes",  # Cyrillic В
        "Bob's Bik\u0435s",  # Cyrillic е
        "B0b's B1kes",
        "Bob's\u200b Bikes",  # zero-width space
        "\u202eBob's Bikes",  # right-to-left override
        "𝐁𝐨𝐛'𝐬 𝐁𝐢𝐤𝐞𝐬",  # mathematical bold
    ],
)
def test_a_name_that_looks_like_another_shops_is_refused(shop, buyer, look_alike):
    response = logged_in(buyer).post(reverse("shop-create"), {"name": look_alike})
    assert response.status_code == 200
    assert "looks the same, already exists" in response.content.decode()
    assert not Shop.objects.filter(owner=buyer).exists()


def test_different_names_are_accepted(shop, buyer):
    assert name_skeleton("Bob's Bakes") != name_skeleton("Bob's Bikes")
    logged_in(buyer).post(reverse("shop-create"), {"name": "Bob's\u2067 Bakes"})
    assert Shop.objects.get(owner=buyer).name == "Bob's Bakes"


def test_a_look_alike_created_meanwhile_is_refused_at_insert(shop, buyer):
    # The form's check passed; another request created the look-alike before our insert.
    with pytest.raises(ShopNameTaken):
        Shop.objects.create(name="Bob’s Bikes", owner=buyer)


def test_listing_titles_are_literal_markdown_in_the_context_message(shop, buyer):
    title = "[Free](https://evil.example) **now** <img src=x> `x` @everyone ~~no~~\n# hi"
    listing = Listing.objects.create(shop=shop, title=title, price=Decimal(1))
    conversation = services.message_seller(buyer, listing, "http://testserver/listings/1/?a=b c)")
    note = DmOutboxMessage.objects.get(channel=conversation.channel).content
    assert note == (
        r"About: \[Free\]\(https\://evil.example\) \*\*now\*\* \<img src=x\> \`x\` \@everyone "
        r"\~\~no\~\~ \# hi — <http://testserver/listings/1/?a=b%20c%29>"
    )


def test_a_non_web_link_is_refused():
    with pytest.raises(ValueError):
        services.markdown_autolink("javascript:alert(1)")


# --- item 9: the slug race ------------------------------------------------------------------


def test_a_slug_taken_between_the_check_and_the_insert_is_retried(buyer, make_user, monkeypatch):
    Shop.objects.create(name="Bobs Bikes", owner=make_user("other"))
    stale = iter(["bobs-bikes"])  # what the check saw before the other shop's insert
    real = Shop._free_slug
    monkeypatch.setattr(
        Shop, "_free_slug", lambda self, base: next(stale, None) or real(self, base)
    )
    shop = Shop.objects.create(name="Bob's Bikes", owner=buyer)  # the same slug text
    assert shop.slug == "bobs-bikes-2"


@pytest.mark.django_db(transaction=True)
def test_concurrent_shops_with_the_same_slug_text_all_open(postgres_required, make_user):
    owners = [make_user(f"seller{n}") for n in range(8)]
    names = [
        "Race Bikes",
        "Race Bikes!",
        "Race Bikes?",
        "Race, Bikes",
        "Race: Bikes",
        "Race Bikes.",
        "Race; Bikes",
        "Race (Bikes)",
    ]  # one slug, eight skeletons
    outcomes = run_together(
        [lambda o=o, n=n: services.open_shop(o, Shop(name=n)) for o, n in zip(owners, names)]
    )
    assert [type(o).__name__ for o in outcomes] == ["Shop"] * 8
    assert len({s.slug for s in Shop.objects.all()}) == 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_shops_with_the_same_name_open_once(postgres_required, make_user):
    owners = [make_user(f"seller{n}") for n in range(6)]
    outcomes = run_together(
        [lambda o=o: services.open_shop(o, Shop(name="Same Name")) for o in owners]
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Shop"] + ["ShopNameTaken"] * 5
    assert not any(isinstance(o, IntegrityError) for o in outcomes)


def run_together(calls):
    """Run each call in its own thread and database connection, all released at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i):
        try:
            barrier.wait()
            outcomes[i] = calls[i]()
        except Exception as exc:  # the outcome is what the test checks
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


# --- item 5: per-user limits ------------------------------------------------------------------


def test_new_conversations_per_hour_are_limited(settings, make_user, buyer):
    settings.MARKETPLACE_NEW_CONVERSATIONS_PER_HOUR = 2
    listings = [
        Listing.objects.create(
            shop=Shop.objects.create(name=f"Shop {n}", owner=make_user()), title="T", price=1
        )
        for n in range(3)
    ]
    client = logged_in(buyer)
    for listing in listings[:2]:
        assert client.post(reverse("listing-message", args=[listing.pk])).status_code == 302
    refused = client.post(reverse("listing-message", args=[listings[2].pk]))
    assert refused.status_code == 429
    assert "2 new conversations in the last hour" in refused.content.decode()
    assert Conversation.objects.filter(buyer=buyer).count() == 2
    # An existing conversation still opens; an hour later a new one does too.
    assert client.post(reverse("listing-message", args=[listings[0].pk])).status_code == 302
    Conversation.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert client.post(reverse("listing-message", args=[listings[2].pk])).status_code == 302


def test_new_shops_per_day_are_limited(settings, buyer):
    settings.MARKETPLACE_NEW_SHOPS_PER_DAY = 2
    client = logged_in(buyer)
    for name in ("First", "Second"):
        assert client.post(reverse("shop-create"), {"name": name}).status_code == 302
    refused = client.post(reverse("shop-create"), {"name": "Third"})
    assert refused.status_code == 429
    assert "2 shops in the last 24 hours" in refused.content.decode()
    assert Shop.objects.filter(owner=buyer).count() == 2
