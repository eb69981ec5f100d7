"""REST API: unread, muted and archived per conversation; POST mute/unmute/archive/unarchive.

Against the emulator (work inline on commit), so "Whop got it" is checked on Whop's side.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dm_bridge import gateway
from dm_bridge.models import DmMember

from .conftest import World, logged_in

pytestmark = pytest.mark.django_db(transaction=True)


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"dm_bridge:{name}", kwargs=kwargs or None)


def whop_member(world: World, user: Any) -> Any:
    whop = gateway.get_client()
    [listed] = [
        m
        for m in whop.dm_members.list(channel_id=world.ab.whop_channel_id)
        if m.user_id == world.whop_id(user)
    ]
    return whop.dm_members.retrieve(listed.id)


def test_channels_show_my_unread_count_muted_and_archived(world: World) -> None:
    DmMember.objects.filter(channel=world.ab, user=world.b).update(unread_count=3, muted=True)
    bob, alice = logged_in(world.b), logged_in(world.a)
    [mine] = bob.get(url("channel-list")).json()["results"]
    assert (mine["unread_count"], mine["muted"], mine["archived"]) == (3, True, False)
    detail = alice.get(url("channel-detail", pk=world.ab.pk)).json()
    assert (detail["unread_count"], detail["muted"], detail["archived"]) == (0, False, False)


def test_mute_unmute_archive_unarchive_over_post(world: World, whop: Any) -> None:
    bob = logged_in(world.b)
    muted = bob.post(url("channel-mute", pk=world.ab.pk))
    assert muted.status_code == 200, muted.content
    assert muted.json()["muted"] is True
    assert whop_member(world, world.b).notification_preference == "none"
    assert whop_member(world, world.a).notification_preference == "all"

    archived = bob.post(url("channel-archive", pk=world.ab.pk)).json()
    assert archived["archived"] and archived["muted"]
    assert whop_member(world, world.b).status == "archived"
    assert bob.get(url("channel-list"), {"archived": "false"}).json()["results"] == []
    [back] = bob.get(url("channel-list"), {"archived": "true"}).json()["results"]
    assert back["id"] == world.ab.pk
    # Only mine: alice still has it in her inbox.
    [hers] = logged_in(world.a).get(url("channel-list"), {"archived": "false"}).json()["results"]
    assert hers["id"] == world.ab.pk and hers["archived"] is False

    assert bob.post(url("channel-unarchive", pk=world.ab.pk)).json()["archived"] is False
    assert bob.post(url("channel-unmute", pk=world.ab.pk)).json()["muted"] is False
    remote = whop_member(world, world.b)
    assert (remote.notification_preference, remote.status) == ("all", "accepted")
    # Twice is harmless and calls Whop no more.
    calls = len(whop.requests("dm_members.update"))
    assert bob.post(url("channel-unmute", pk=world.ab.pk)).status_code == 200
    assert len(whop.requests("dm_members.update")) == calls


def test_an_outsider_gets_404_and_changes_nothing(world: World, whop: Any) -> None:
    carol = logged_in(world.c)
    for change in ("mute", "unmute", "archive", "unarchive"):
        answer = carol.post(url(f"channel-{change}", pk=world.ab.pk))
        assert answer.status_code == 404 and answer["Content-Type"] == "application/json"
    assert logged_in(world.c).post("/dm/api/channels/abc/mute/").status_code == 404
    assert whop.requests("dm_members.update") == []
    assert not DmMember.objects.filter(muted=True).exists()


def test_preferences_need_a_session_csrf_and_post(world: World, whop: Any, pages: str) -> None:
    from django.test import Client

    anonymous = Client().post(url("channel-mute", pk=world.ab.pk))
    assert anonymous.status_code == 403
    client = logged_in(world.b, enforce_csrf_checks=True)
    refused = client.post(url("channel-mute", pk=world.ab.pk))
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get(url("channel-mute", pk=world.ab.pk)).status_code == 405
    assert not DmMember.objects.filter(muted=True).exists()
    client.get(reverse("test-chat", args=[world.ab.pk]))  # a page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    done = client.post(url("channel-mute", pk=world.ab.pk), headers={"X-CSRFToken": token})
    assert done.status_code == 200 and done.json()["muted"] is True


def test_the_archived_filter_is_strict(world: World) -> None:
    answer = logged_in(world.a).get(url("channel-list"), {"archived": "yes"})
    assert answer.status_code == 400
    assert answer.json() == {"archived": ["Enter true or false."]}


def test_a_whop_dm_shared_by_two_channels_counts_once_as_in_the_badge(world: World) -> None:
    from dm_bridge import services

    again = services.open_dm("shop:2/buyer:alice", [world.a, world.b])
    again.refresh_from_db()
    assert again.whop_channel_id == world.ab.whop_channel_id  # one Whop DM per member set
    DmMember.objects.filter(user=world.b).update(unread_count=2)
    bob = logged_in(world.b)
    listed = {c["id"]: c["unread_count"] for c in bob.get(url("channel-list")).json()["results"]}
    assert listed == {world.ab.pk: 2, again.pk: 0}
    assert sum(listed.values()) == bob.get(url("unread")).json()["unread"] == 2
    assert bob.get(url("channel-detail", pk=again.pk)).json()["unread_count"] == 0
