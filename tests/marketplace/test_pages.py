"""Marketplace pages through the Django test client: who sees what, forms, errors, admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from dm_bridge.models import DmChannel
from marketplace.models import Conversation, Listing, Shop, ShopStaff

pytestmark = pytest.mark.django_db


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_home_lists_active_listings_with_search_and_pagination(client, shop):
    for n in range(15):
        Listing.objects.create(shop=shop, title=f"Road bike {n}", price=Decimal(n))
    Listing.objects.create(shop=shop, title="Camera", price=Decimal(5))
    Listing.objects.create(shop=shop, title="Sold bike", price=1, status=Listing.Status.SOLD)

    page1 = client.get("/").content.decode()
    assert page1.count('class="card listing-card"') == 12
    assert "Page 1 of 2" in page1 and "Sold bike" not in page1
    assert "Road bike" in client.get("/?page=2").content.decode()

    found = client.get("/", {"q": "camera"}).content.decode()
    assert "Camera" in found and "Road bike" not in found
    assert "Sold bike" in client.get("/", {"q": "sold", "include_sold": "on"}).content.decode()
    assert "No listings match" in client.get("/", {"q": "zzz"}).content.decode()
    assert client.get("/", {"page": "999"}).status_code == 200  # out of range: last page


def test_listing_page_offers_the_right_action(client, shop, listings, buyer):
    url = listings[0].get_absolute_url()
    assert "Log in to message the seller" in client.get(url).content.decode()
    assert 'data-testid="message-seller"' in logged_in(buyer).get(url).content.decode()
    owner_page = logged_in(shop.owner).get(url).content.decode()
    assert "Mark as sold" in owner_page and "message-seller" not in owner_page


def test_message_seller_requires_login_post_and_csrf(shop, listings, buyer):
    url = reverse("listing-message", args=[listings[0].pk])
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert logged_in(buyer).get(url).status_code == 405
    assert logged_in(buyer, enforce_csrf_checks=True).post(url).status_code == 403
    assert not Conversation.objects.exists() and not DmChannel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_message_seller_redirects_to_the_conversation_page(whop, shop, listings, buyer, make_user):
    client = logged_in(buyer)
    response = client.post(reverse("listing-message", args=[listings[0].pk]))
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"] == conversation.get_absolute_url()
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert 'data-testid="dm-chat"' in page and 'data-testid="context-card"' in page
    assert conversation.channel.whop_channel_id in page or "Connecting" in page
    # The team sees it too; anyone else gets 404.
    assert logged_in(shop.owner).get(conversation.get_absolute_url()).status_code == 200
    assert logged_in(shop.staff.get()).get(conversation.get_absolute_url()).status_code == 200
    outsider = logged_in(make_user("outsider"))
    assert outsider.get(conversation.get_absolute_url()).status_code == 404


def test_messaging_your_own_shop_shows_a_clear_error(shop, listings):
    client = logged_in(shop.owner)
    response = client.post(reverse("listing-message", args=[listings[0].pk]), follow=True)
    assert "your own shop" in response.content.decode()
    assert not Conversation.objects.exists()


def test_inbox_embeds_the_dms_list_with_a_conversation_index(shop, listings, buyer):
    empty = logged_in(buyer).get(reverse("inbox")).content.decode()
    assert "No conversations yet" in empty and "dm-inbox" not in empty
    channel = DmChannel.objects.create(
        company_id="biz_emulator", key="k", status="active", whop_channel_id="feed_x1"
    )
    Conversation.objects.create(buyer=buyer, shop=shop, channel=channel, listing=listings[0])
    for user in (buyer, shop.owner):
        page = logged_in(user).get(reverse("inbox")).content.decode()
        assert 'data-testid="dm-inbox"' in page and "Bike 1" in page
    assert Client().get(reverse("inbox")).status_code == 302


def test_staff_page_is_for_the_owner_only(shop, make_user):
    url = reverse("shop-staff", args=[shop.slug])
    assert logged_in(shop.staff.get()).get(url).status_code == 404
    owner = logged_in(shop.owner)
    assert owner.get(url).status_code == 200
    assert owner.post(url, {"recipient": "not an email@"}).status_code == 200  # form error
    staff = shop.staff.get()
    remove = reverse("shop-staff-remove", args=[shop.slug, staff.pk])
    assert logged_in(staff).post(remove).status_code == 404
    assert owner.post(remove).status_code == 302
    assert not ShopStaff.objects.filter(shop=shop, user=staff).exists()


def test_team_marks_listings_sold_and_creates_listings(shop, listings, buyer):
    status_url = reverse("listing-status", args=[listings[0].pk])
    assert logged_in(buyer).post(status_url, {"status": "sold"}).status_code == 404
    staff = logged_in(shop.staff.get())
    staff.post(status_url, {"status": "sold"})
    assert Listing.objects.get(pk=listings[0].pk).status == Listing.Status.SOLD
    staff.post(status_url, {"status": "bogus"})
    assert Listing.objects.get(pk=listings[0].pk).status == Listing.Status.SOLD

    new_url = reverse("listing-create", args=[shop.slug])
    assert logged_in(buyer).get(new_url).status_code == 404
    bad = staff.post(new_url, {"title": "", "price": "-1"})
    assert bad.status_code == 200 and Listing.objects.count() == 3
    staff.post(new_url, {"title": "Tandem", "price": "800", "description": "For two."})
    assert Listing.objects.filter(title="Tandem", shop=shop).exists()


def test_shop_creation_and_shop_page(shop, listings, buyer):
    client = logged_in(buyer)
    client.post(reverse("shop-create"), {"name": "Bobs Bikes", "description": "Also bikes"})
    second = Shop.objects.get(owner=buyer)
    assert second.slug != shop.slug  # the same slug text, made unique
    page = Client().get(shop.get_absolute_url()).content.decode()
    assert "Bike 1" in page and "owner" in page


def test_admin_pages_and_the_link_to_the_dm_channel(admin_client, shop, listings, buyer):
    channel = DmChannel.objects.create(
        company_id="biz_emulator", key="k", status="active", whop_channel_id="feed_x1"
    )
    conversation = Conversation.objects.create(buyer=buyer, shop=shop, channel=channel)
    for name in ("shop", "listing", "conversation"):
        assert admin_client.get(reverse(f"admin:marketplace_{name}_changelist")).status_code == 200
    page = admin_client.get(
        reverse("admin:marketplace_conversation_change", args=[conversation.pk])
    )
    assert reverse("admin:dm_bridge_dmchannel_change", args=[channel.pk]) in page.content.decode()
    assert (
        admin_client.get(reverse("admin:marketplace_shop_change", args=[shop.pk])).status_code
        == 200
    )


def test_health_endpoint(client):
    assert client.get("/healthz").json()["status"] == "ok"
