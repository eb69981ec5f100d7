"""The REST endpoints for reports and blocks: session + CSRF, only one's own conversations,
strict JSON, the moderation throttle. The marketplace's adapters (buyer × shop parties)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dm_bridge.models import Block, Report

pytestmark = pytest.mark.django_db(transaction=True)
CSRF = "c" * 32


def api(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    client.cookies["csrftoken"] = CSRF
    return client


def post(client: Client, url: str, body: dict | None = None, csrf: bool = True):
    headers = {"X-CSRFToken": CSRF} if csrf else {}
    return client.post(url, body or {}, content_type="application/json", headers=headers)


def test_a_member_reports_a_message_once_and_strangers_get_404(
    whop, open_conversation, buyer, make_user, post_as, shop
):
    channel = open_conversation(buyer).channel
    message = post_as(shop.owner, channel, "Pay me on Venmo instead")
    url = reverse("dm_bridge:channel-report", args=[channel.pk])
    body = {"category": "off_platform", "note": "Venmo", "whop_message_id": message}
    first = post(api(buyer), url, body)
    assert first.status_code == 201, first.content
    assert first.json()["whop_message_id"] == message and first.json()["status"] == "open"
    assert post(api(buyer), url, body).status_code == 200
    assert Report.objects.get().reporter == buyer

    assert post(api(make_user("mallory")), url, body).status_code == 404
    assert post(api(buyer), url, body, csrf=False).status_code == 403
    assert post(api(), url, body).status_code == 403
    bad = post(api(buyer), url, {"category": 1})
    assert bad.status_code == 400 and "category" in bad.json()
    assert post(api(buyer), url, {"category": "spam", "whop_message_id": "a b"}).status_code == 400
    assert Report.objects.count() == 1


def test_block_from_a_conversation_then_list_and_unblock(
    whop, open_conversation, buyer, shop, whop_members, whop_ids
):
    channel = open_conversation(buyer).channel
    url = reverse("dm_bridge:channel-block", args=[channel.pk])
    made = post(api(buyer), url)
    assert made.status_code == 201, made.content
    assert made.json()["blocked"] == "Bob's Bikes"
    assert whop_members(channel) == whop_ids(shop.identity)
    # Taken out of the DM, erin can still reach it to report or block (idempotent).
    assert post(api(buyer), url).status_code == 200
    report = post(
        api(buyer), reverse("dm_bridge:channel-report", args=[channel.pk]), {"category": "spam"}
    )
    assert report.status_code == 201

    mine = api(buyer).get(reverse("dm_bridge:block-list"))
    assert [b["blocked"] for b in mine.json()["results"]] == ["Bob's Bikes"]
    assert api(shop.owner).get(reverse("dm_bridge:block-list")).json()["results"] == []
    block_url = reverse("dm_bridge:block-detail", args=[made.json()["id"]])
    assert api(shop.owner).delete(block_url, headers={"X-CSRFToken": CSRF}).status_code == 404
    assert api(buyer).delete(block_url).status_code == 403  # no CSRF header
    assert api(buyer).delete(block_url, headers={"X-CSRFToken": CSRF}).status_code == 204
    assert not Block.objects.exists()
    assert whop_members(channel) == whop_ids(buyer, shop.identity, *shop.team())


def test_the_shop_team_blocks_the_buyer_and_a_member_cannot_block_themself(
    whop, open_conversation, buyer, shop
):
    channel = open_conversation(buyer).channel
    url = reverse("dm_bridge:channel-block", args=[channel.pk])
    yourself = post(api(shop.owner), url, {"user_id": shop.owner.pk})
    assert yourself.status_code == 409 and "yourself" in yourself.json()["detail"]
    stranger = post(api(shop.owner), url, {"user_id": 10**6})
    assert stranger.status_code == 404
    made = post(api(shop.staff.get()), url)
    assert made.status_code == 201 and made.json()["blocked"] == "erin"
    block = Block.objects.get()
    assert block.blocker == shop and block.created_by == shop.staff.get()
    listed = api(shop.owner).get(reverse("dm_bridge:block-list")).json()["results"]
    assert [b["id"] for b in listed] == [block.pk]  # the whole team sees the shop's blocks
    assert api(buyer).get(reverse("dm_bridge:block-list")).json()["results"] == []


def test_reports_and_blocks_are_throttled_per_user(whop, settings, open_conversation, buyer):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "MODERATION_RATE_LIMIT": "2/min"}
    channel = open_conversation(buyer).channel
    url = reverse("dm_bridge:channel-report", args=[channel.pk])
    codes = [
        post(api(buyer), url, {"category": "spam", "whop_message_id": f"msg_{n}"}).status_code
        for n in range(3)
    ]
    assert codes == [201, 201, 429]
    assert Report.objects.count() == 2
