"""dm_bridge's REST API through Django's test client: who may do what, CSRF, the schema.

The A–B channel is really active on the emulator (``world``), so any call that got past the
visibility check would show up in the emulator's request log — the outsider tests compare
that log before and after.
"""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import httpx
import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, reverse
from openapi_spec_validator import validate

from dm_bridge import services
from dm_bridge import urls as dm_urls
from dm_bridge.models import DmChannel, DmMember
from dm_bridge.policy import DefaultPolicy, get_policy
from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID

from .conftest import World, jwt_claims, logged_in

pytestmark = pytest.mark.django_db(transaction=True)

# The webhook receiver and the one-click unsubscribe are public on purpose: a signature
# authenticates them (tests/webhooks, tests/reminders).
PUBLIC = {"webhook", "reminder-unsubscribe"}
API_NAMES = [
    p.name for p in dm_urls.urlpatterns if isinstance(p, URLPattern) and p.name not in PUBLIC
]
METHODS = ["get", "head", "options", "post", "put", "patch", "delete"]


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"dm_bridge:{name}", kwargs=kwargs or None)


def whop_api(emulator: Any, token: str = DEFAULT_API_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=emulator.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def call(client: Client, method: str, path: str, data: Any = None) -> Any:
    if data is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=json.dumps(data), content_type="application/json")


def test_the_whop_fixture_leaves_dm_bridges_default_policy_in_place(whop: Any, settings: Any):
    assert "POLICY" not in settings.DM_BRIDGE
    assert type(get_policy()) is DefaultPolicy


def test_every_api_url_name_is_covered():
    assert set(API_NAMES) == {
        "chat-token",
        "channel-list",
        "channel-detail",
        "member-list",
        "member-detail",
        "channel-mute",
        "channel-unmute",
        "channel-archive",
        "channel-unarchive",
        "mark-read",
        "unread",
        "reminder-preference",
        "channel-report",
        "channel-block",
        "block-list",
        "block-detail",
        "schema",
    }


# --- anonymous -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    API_NAMES,
)
def test_anonymous_is_refused_on_every_endpoint_and_method(world: World, whop: Any, name: str):
    pattern = next(p for p in dm_urls.urlpatterns if getattr(p, "name", None) == name)
    values = {"pk": world.ab.pk, "user_id": world.b.pk}
    path = url(name, **{arg: values[arg] for arg in pattern.pattern.converters})
    before = len(whop.requests())
    anonymous = Client()
    answers = {method: call(anonymous, method, path).status_code for method in METHODS}
    assert all(status in (401, 403) for status in answers.values()), answers
    assert len(whop.requests()) == before


# --- the outsider ----------------------------------------------------------------------------------
@pytest.mark.parametrize("staff", [False, True], ids=["member-of-nothing", "staff-outsider"])
def test_outsider_gets_404_everywhere_and_causes_no_whop_call(world: World, whop: Any, staff: bool):
    world.c.is_staff = staff
    world.c.save()
    carol = logged_in(world.c)
    ab = world.ab
    before = len(whop.requests())
    attempts = {
        "detail": call(carol, "get", url("channel-detail", pk=ab.pk)),
        "rename": call(carol, "patch", url("channel-detail", pk=ab.pk), {"name": "mine now"}),
        "delete": call(carol, "delete", url("channel-detail", pk=ab.pk)),
        "members": call(carol, "get", url("member-list", pk=ab.pk)),
        "add": call(carol, "post", url("member-list", pk=ab.pk), {"user_id": world.c.pk}),
        "remove": call(carol, "delete", url("member-detail", pk=ab.pk, user_id=world.a.pk)),
    }
    assert {k: r.status_code for k, r in attempts.items()} == dict.fromkeys(attempts, 404)
    # The answer gives nothing away (the same as for a channel that does not exist).
    missing = call(carol, "get", url("channel-detail", pk=ab.pk + 1000))
    assert missing.status_code == 404
    assert attempts["detail"].json() == missing.json()
    assert "alice" not in attempts["members"].content.decode()
    assert len(whop.requests()) == before, whop.requests()[before:]

    ab.refresh_from_db()
    assert ab.status == DmChannel.Status.ACTIVE and ab.custom_name == "Vintage lamp"
    assert set(ab.members.values_list("user_id", "status")) == {
        (world.a.pk, "active"),
        (world.b.pk, "active"),
    }

    # Control: the same rename by a member does reach Whop, so the log would have shown it.
    alice = logged_in(world.a)
    renamed = call(alice, "patch", url("channel-detail", pk=ab.pk), {"name": "Lamp"})
    assert renamed.status_code == 200
    assert [r["operation"] for r in whop.requests()[before:]] == ["dm_channels.update"]


def test_outsiders_channel_list_does_not_include_the_dm(world: World, whop: Any):
    ac = services.open_dm("shop:2/buyer:carol", [world.c, world.a])
    carol = logged_in(world.c)
    listed = call(carol, "get", url("channel-list")).json()
    assert [c["id"] for c in listed["results"]] == [ac.pk]
    assert world.ab.whop_channel_id not in json.dumps(listed)
    assert call(carol, "get", url("unread")).json() == {"unread": 0}


def test_outsiders_token_is_their_own_and_cannot_read_the_dm(world: World, whop: Any):
    carol = logged_in(world.c)
    answer = call(carol, "post", url("chat-token"))
    assert answer.status_code == 200, answer.content
    token = answer.json()["token"]
    claims = jwt_claims(token)
    assert claims["sub"] == world.whop_id(world.c)
    assert claims["sub"] not in (world.whop_id(world.a), world.whop_id(world.b))
    assert claims["company_id"] == DEFAULT_COMPANY_ID

    with whop_api(whop, token) as as_carol:
        messages = as_carol.get("/messages", params={"channel_id": world.ab.whop_channel_id})
        channel = as_carol.get(f"/dm_channels/{world.ab.whop_channel_id}")
        listed = as_carol.get("/dm_channels", params={"company_id": DEFAULT_COMPANY_ID})
    assert messages.status_code == 404, messages.text
    assert channel.status_code == 404, channel.text
    assert world.ab.whop_channel_id not in listed.text

    # Control: alice's token does read it.
    alice_token = call(logged_in(world.a), "post", url("chat-token")).json()["token"]
    with whop_api(whop, alice_token) as as_alice:
        assert (
            as_alice.get("/messages", params={"channel_id": world.ab.whop_channel_id}).status_code
            == 200
        )


def test_identity_and_scopes_injected_into_the_token_request_are_ignored(
    world: World, whop: Any, settings: Any
):
    scopes = ["dms:read", "dms:message:manage", "dms:channel:manage"]
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TOKEN_SCOPES": scopes}
    victim = world.whop_id(world.a)
    hostile = {
        "user_id": victim,
        "company_id": "biz_someone_else",
        "account_id": "biz_someone_else",
        "scoped_actions": [
            "dms:read",
            "dms:message:manage",
            "dms:channel:manage",
            "user:profile:update",
        ],
        "expires_at": "2099-01-01T00:00:00Z",
    }
    carol = logged_in(world.c)
    query = "?user_id=" + victim + "&company_id=biz_someone_else&scoped_actions=user:profile:update"
    answers = [
        call(carol, "post", url("chat-token") + query, hostile),
        carol.post(url("chat-token") + query, data=hostile),  # form-encoded
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.content
        claims = jwt_claims(answer.json()["token"])
        assert claims["sub"] == world.whop_id(world.c)
        assert claims["company_id"] == DEFAULT_COMPANY_ID
        assert claims["scopes"] == scopes
        assert claims["exp"] - claims["iat"] <= 3600 + 5
    minted = whop.requests("access_tokens.create")
    assert [m["body"]["user_id"] for m in minted] == [world.whop_id(world.c)]
    assert minted[0]["body"]["account_id"] == DEFAULT_COMPANY_ID
    assert minted[0]["body"]["scoped_actions"] == scopes


# --- CSRF --------------------------------------------------------------------------------------------
def unsafe_requests(world: World) -> list[tuple[str, str, str, Any, int]]:
    """(label, method, path, body, status on success) — in an order that works on one channel."""
    ab = world.ab
    return [
        ("token", "post", url("chat-token"), None, 200),
        ("open", "post", url("channel-list"), {"user_ids": [world.c.pk]}, 201),
        ("rename", "patch", url("channel-detail", pk=ab.pk), {"name": "Renamed"}, 200),
        ("add member", "post", url("member-list", pk=ab.pk), {"user_id": world.c.pk}, 201),
        ("read", "post", url("mark-read"), {"channel_id": ab.whop_channel_id}, 200),
        ("remove member", "delete", url("member-detail", pk=ab.pk, user_id=world.c.pk), None, 204),
        ("delete", "delete", url("channel-detail", pk=ab.pk), None, 204),
    ]


def test_unsafe_requests_without_the_csrf_token_are_refused(world: World, whop: Any, pages: str):
    world.a.is_staff = True  # so that DELETE would be allowed: a 403 can only be CSRF's
    world.a.save()
    client = logged_in(world.a, enforce_csrf_checks=True)
    before = (len(whop.requests()), DmChannel.objects.count(), DmMember.objects.count())
    for label, method, path, body, _ in unsafe_requests(world):
        answer = call(client, method, path, body)
        assert answer.status_code == 403, (label, answer.content)
        assert "CSRF" in answer.json()["detail"], label
    # A token in the cookie alone is not enough either: the header must carry it.
    client.get(reverse("test-chat", args=[world.ab.pk]))
    assert client.cookies.get("csrftoken")
    for label, method, path, body, _ in unsafe_requests(world):
        answer = call(client, method, path, body)
        assert answer.status_code == 403, (label, answer.content)
    after = (len(whop.requests()), DmChannel.objects.count(), DmMember.objects.count())
    assert after == before
    world.ab.refresh_from_db()
    assert world.ab.custom_name == "Vintage lamp" and world.ab.status == "active"


def test_unsafe_requests_with_the_csrf_token_from_a_page_succeed(
    world: World, whop: Any, pages: str
):
    world.a.is_staff = True
    world.a.save()
    client = logged_in(world.a, enforce_csrf_checks=True)
    page = client.get(reverse("test-chat", args=[world.ab.pk]))
    assert page.status_code == 200
    csrf = client.cookies["csrftoken"].value
    for label, method, path, body, status in unsafe_requests(world):
        kwargs: dict[str, Any] = {"headers": {"X-CSRFToken": csrf}}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        answer = getattr(client, method)(path, **kwargs)
        assert answer.status_code == status, (label, answer.content)
    world.ab.refresh_from_db()
    assert world.ab.status == DmChannel.Status.DELETED


def test_the_token_in_the_pages_config_is_accepted_as_the_csrf_header(
    world: World, whop: Any, pages: str
):
    """What the glue script does: X-CSRFToken from the json_script config (not the cookie)."""
    client = logged_in(world.a, enforce_csrf_checks=True)
    html = client.get(reverse("test-chat", args=[world.ab.pk])).content.decode()
    config = json.loads(html.split('type="application/json">', 1)[1].split("</script>", 1)[0])
    answer = client.post(config["tokenUrl"], headers={"X-CSRFToken": config["csrfToken"]})
    assert answer.status_code == 200, answer.content
    read = client.post(
        config["readUrl"],
        data=json.dumps({"channel_id": world.ab.whop_channel_id}),
        content_type="application/json",
        headers={"X-CSRFToken": config["csrfToken"]},
    )
    assert read.status_code == 200


# --- happy paths under DefaultPolicy ----------------------------------------------------------------
def test_channel_list_is_paginated_mine_only_and_carries_unread_counts(
    world: World, whop: Any, settings: Any
):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "API_PAGE_SIZE": 2}
    ac = services.open_dm("shop:2/buyer:carol", [world.c, world.a])
    abc = services.open_dm("group", [world.a, world.b, world.c])
    bc = services.open_dm("bc", [world.b, world.c])
    DmMember.objects.filter(channel=world.ab, user=world.a).update(unread_count=2)
    DmMember.objects.filter(channel=world.ab, user=world.b).update(unread_count=5)
    alice = logged_in(world.a)

    first = call(alice, "get", url("channel-list")).json()
    assert first["count"] == 3
    assert len(first["results"]) == 2 and first["next"] and first["previous"] is None
    second = alice.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    mine = {c["id"]: c for c in first["results"] + second["results"]}
    assert set(mine) == {world.ab.pk, ac.pk, abc.pk}
    assert bc.pk not in mine
    assert mine[world.ab.pk]["unread_count"] == 2  # alice's own count, not bob's
    assert mine[ac.pk]["unread_count"] == 0
    assert mine[world.ab.pk]["name"] == "Vintage lamp"
    assert mine[world.ab.pk]["status"] == "active" and mine[world.ab.pk]["ready"] is True
    # A larger page holds everything; past the cap (100) is a 400, not silently capped.
    everything = alice.get(url("channel-list"), {"page_size": 100}).json()
    assert len(everything["results"]) == 3
    too_big = alice.get(url("channel-list"), {"page_size": 1000})
    assert too_big.status_code == 400 and "page_size" in too_big.json()


def test_open_dm_creates_then_reuses_by_key(world: World, whop: Any):
    alice = logged_in(world.a)
    body = {"user_ids": [world.c.pk], "key": "listing:7/buyer:alice", "name": "Bike"}
    created = call(alice, "post", url("channel-list"), body)
    assert created.status_code == 201, created.content
    channel = created.json()
    # Client-chosen keys are namespaced, apart from the host's own keys.
    assert channel["key"] == "api:listing:7/buyer:alice" and channel["name"] == "Bike"
    assert channel["status"] == "active" and channel["whop_channel_id"].startswith("feed_")
    again = call(alice, "post", url("channel-list"), body)
    assert again.status_code == 200
    assert again.json()["id"] == channel["id"]
    assert len(whop.requests("dm_channels.create")) == 2  # the fixture's DM and this one
    assert set(
        DmMember.objects.filter(channel_id=channel["id"]).values_list("user_id", flat=True)
    ) == {
        world.a.pk,
        world.c.pk,
    }
    # Without a key: derived from the members, so the same people get the same channel.
    derived = call(alice, "post", url("channel-list"), {"user_ids": [world.c.pk, world.a.pk]})
    assert derived.status_code == 201
    assert (
        derived.json()["key"]
        == f"users:{min(world.a.pk, world.c.pk)}-{max(world.a.pk, world.c.pk)}"
    )
    by_carol = call(logged_in(world.c), "post", url("channel-list"), {"user_ids": [world.a.pk]})
    assert by_carol.status_code == 200 and by_carol.json()["id"] == derived.json()["id"]


def test_open_dm_with_the_key_of_a_conversation_i_cannot_see_is_a_conflict(world: World, whop: Any):
    private = call(
        logged_in(world.a), "post", url("channel-list"), {"user_ids": [world.b.pk], "key": "ours"}
    )
    assert private.status_code == 201
    carol = logged_in(world.c)
    before = (len(whop.requests()), DmChannel.objects.count(), DmMember.objects.count())
    answer = call(carol, "post", url("channel-list"), {"user_ids": [world.a.pk], "key": "ours"})
    assert answer.status_code == 409
    assert answer.json()["detail"] == "This key is already used by another conversation."
    assert (len(whop.requests()), DmChannel.objects.count(), DmMember.objects.count()) == before


def test_a_client_cannot_claim_a_key_the_host_uses(world: World, whop: Any):
    """carol sends the host's key of alice's DM: she gets her own channel, never theirs."""
    carol = logged_in(world.c)
    answer = call(
        carol, "post", url("channel-list"), {"user_ids": [world.a.pk], "key": world.ab.key}
    )
    assert answer.status_code == 201
    assert answer.json()["id"] != world.ab.pk and answer.json()["key"] == "api:" + world.ab.key


@pytest.mark.parametrize("spelling", ["users:{a}-{b}", "USERS:{a}-{b}", "  users:{a}-{b}"])
def test_the_member_derived_keys_cannot_be_taken_by_someone_else(
    world: World, whop: Any, spelling: str
):
    """carol must not pre-create "the DM of alice and bob" with herself in it."""
    a, b = sorted([world.a.pk, world.b.pk])
    carol = logged_in(world.c)
    taken = call(
        carol,
        "post",
        url("channel-list"),
        {"user_ids": [world.a.pk], "key": spelling.format(a=a, b=b)},
    )
    assert taken.status_code == 400
    assert "reserved for DMs identified by their members" in taken.json()["key"][0]
    opened = call(logged_in(world.a), "post", url("channel-list"), {"user_ids": [world.b.pk]})
    assert opened.status_code == 201
    members = DmMember.objects.filter(channel_id=opened.json()["id"])
    assert set(members.values_list("user_id", flat=True)) == {world.a.pk, world.b.pk}


def test_open_dm_with_an_unknown_user_is_a_clear_400(world: World, whop: Any):
    alice = logged_in(world.a)
    answer = call(alice, "post", url("channel-list"), {"user_ids": [world.b.pk, 987654]})
    assert answer.status_code == 400
    assert answer.json() == {"user_ids": ["No active user with ID 987654."]}
    world.b.is_active = False
    world.b.save()
    inactive = call(alice, "post", url("channel-list"), {"user_ids": [world.b.pk]})
    assert inactive.status_code == 400
    assert inactive.json() == {"user_ids": [f"No active user with ID {world.b.pk}."]}
    for bad in ({}, {"user_ids": []}, {"user_ids": ["x"]}, {"user_ids": [world.b.pk], "key": ""}):
        assert call(alice, "post", url("channel-list"), bad).status_code == 400, bad


def test_open_dm_with_51_members_is_refused_before_anything_is_written(
    world: World, whop: Any, make_user: Any
):
    # Five-digit IDs, as on any real site: the member-derived key is long.
    others = [make_user(f"crowd{i}", id=10_000 + i) for i in range(50)]
    alice = logged_in(world.a)
    before = (len(whop.requests()), DmChannel.objects.count(), DmMember.objects.count())
    answer = call(alice, "post", url("channel-list"), {"user_ids": [u.pk for u in others]})
    assert answer.status_code == 400
    assert answer.json() == {"detail": "A DM can have at most 50 members; 51 were given."}
    assert (len(whop.requests()), DmChannel.objects.count(), DmMember.objects.count()) == before


def test_open_a_50_member_dm_without_a_key(world: World, whop: Any, make_user: Any):
    others = [make_user(f"crowd{i}", id=10_000 + i) for i in range(49)]
    alice = logged_in(world.a)
    body = {"user_ids": [u.pk for u in others]}
    created = call(alice, "post", url("channel-list"), body)
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "active"
    key = created.json()["key"]
    assert len(key) <= 200 and key.startswith("users:")
    # The same member set (listed in another order, by another member) is the same DM.
    again = call(
        logged_in(others[0]),
        "post",
        url("channel-list"),
        {"user_ids": [world.a.pk, *[u.pk for u in reversed(others[1:])]]},
    )
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert DmMember.objects.filter(channel_id=created.json()["id"]).count() == 50


def test_detail_shows_status_and_readiness(world: World, whop: Any):
    alice = logged_in(world.a)
    active = call(alice, "get", url("channel-detail", pk=world.ab.pk))
    assert active.status_code == 200
    assert active["Cache-Control"] == "no-store"
    body = active.json()
    assert body | {"created_at": None, "last_message_at": None, "last_activity_at": None} == {
        "id": world.ab.pk,
        "key": "shop:1/buyer:alice",
        "name": "Vintage lamp",
        "status": "active",
        "ready": True,
        "whop_channel_id": world.ab.whop_channel_id,
        "failure": None,
        "last_message_at": None,
        "last_activity_at": None,
        "unread_count": 0,
        "muted": False,
        "archived": False,
        "created_at": None,
    }

    whop.add_fault("dm_channels.create", status=503)
    pending = services.open_dm("pending", [world.a, world.c])
    detail = call(alice, "get", url("channel-detail", pk=pending.pk)).json()
    assert (detail["status"], detail["ready"], detail["whop_channel_id"]) == ("pending", False, "")
    assert detail["failure"] is None

    DmChannel.objects.filter(pk=pending.pk).update(
        status="failed", last_error="Whop said: 422 invalid_request (internal detail)"
    )
    failed = call(alice, "get", url("channel-detail", pk=pending.pk)).json()
    assert failed["status"] == "failed" and failed["ready"] is False
    assert failed["failure"].startswith("This conversation could not be set up.")
    body = json.dumps(failed)  # the technical reason is for the admin only
    assert "invalid_request" not in body and "internal detail" not in body


def test_rename_add_member_and_leave(world: World, whop: Any):
    alice, bob = logged_in(world.a), logged_in(world.b)
    ab = world.ab
    DmMember.objects.filter(channel=ab, user=world.a).update(unread_count=2)
    renamed = call(alice, "patch", url("channel-detail", pk=ab.pk), {"name": "Lamp questions"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Lamp questions"
    # The answer is the same shape as GET's: alice's unread count is not lost.
    assert renamed.json() == call(alice, "get", url("channel-detail", pk=ab.pk)).json()
    assert renamed.json()["unread_count"] == 2
    with whop_api(whop) as http:
        assert http.get(f"/dm_channels/{ab.whop_channel_id}").json()["name"] == "Lamp questions"
    too_long = call(alice, "patch", url("channel-detail", pk=ab.pk), {"name": "x" * 101})
    # Checked at the edge, as the schema's maxLength says (a field error, no longer "detail").
    assert too_long.json() == {"name": ["Ensure this field has no more than 100 characters."]}

    added = call(alice, "post", url("member-list", pk=ab.pk), {"user_id": world.c.pk})
    assert added.status_code == 201, added.content
    assert added.json()["user_id"] == world.c.pk and added.json()["name"] == "carol"
    members = call(bob, "get", url("member-list", pk=ab.pk)).json()
    assert {m["user_id"] for m in members} == {world.a.pk, world.b.pk, world.c.pk}
    assert {m["status"] for m in members} == {"active"}
    with whop_api(whop) as http:
        remote = http.get("/dm_members", params={"channel_id": ab.whop_channel_id}).json()["data"]
    assert world.whop_id(world.c) in {m["user_id"] for m in remote}
    unknown = call(alice, "post", url("member-list", pk=ab.pk), {"user_id": 987654})
    assert unknown.status_code == 400

    # bob may not remove alice (not staff), but may leave.
    kick = call(bob, "delete", url("member-detail", pk=ab.pk, user_id=world.a.pk))
    assert kick.status_code == 403
    left = call(bob, "delete", url("member-detail", pk=ab.pk, user_id=world.b.pk))
    assert left.status_code == 204
    assert call(bob, "get", url("channel-detail", pk=ab.pk)).status_code == 404
    assert ab.pk not in [c["id"] for c in call(bob, "get", url("channel-list")).json()["results"]]
    again = call(alice, "delete", url("member-detail", pk=ab.pk, user_id=world.b.pk))
    assert again.status_code == 404
    with whop_api(whop) as http:
        remote = http.get("/dm_members", params={"channel_id": ab.whop_channel_id}).json()["data"]
    assert world.whop_id(world.b) not in {m["user_id"] for m in remote}


def test_only_staff_may_delete(world: World, whop: Any):
    alice = logged_in(world.a)
    ab = world.ab
    refused = call(alice, "delete", url("channel-detail", pk=ab.pk))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "You may not delete this conversation."
    assert whop.requests("dm_channels.delete") == []
    world.a.is_staff = True
    world.a.save()
    deleted = call(alice, "delete", url("channel-detail", pk=ab.pk))
    assert deleted.status_code == 204
    ab.refresh_from_db()
    assert ab.status == DmChannel.Status.DELETED
    with whop_api(whop) as http:
        assert http.get(f"/dm_channels/{ab.whop_channel_id}").status_code == 404
    assert call(alice, "get", url("channel-detail", pk=ab.pk)).status_code == 404


def test_mark_read_and_unread(world: World, whop: Any):
    ac = services.open_dm("ac", [world.a, world.c])
    ac.refresh_from_db()
    DmMember.objects.filter(channel=world.ab, user=world.a).update(unread_count=3)
    DmMember.objects.filter(channel=ac, user=world.a).update(unread_count=1)
    DmMember.objects.filter(channel=world.ab, user=world.b).update(unread_count=4)
    alice = logged_in(world.a)
    unread = call(alice, "get", url("unread"))
    assert unread.json() == {"unread": 4}
    assert unread["Cache-Control"] == "no-store"
    read = call(alice, "post", url("mark-read"), {"channel_id": world.ab.whop_channel_id})
    assert read.status_code == 200 and read.json() == {"unread": 1}
    assert call(alice, "get", url("unread")).json() == {"unread": 1}
    assert call(logged_in(world.b), "get", url("unread")).json() == {"unread": 4}  # bob's own
    listed = call(alice, "get", url("channel-list")).json()["results"]
    assert {c["id"]: c["unread_count"] for c in listed} == {world.ab.pk: 0, ac.pk: 1}
    assert call(alice, "post", url("mark-read"), {"channel_id": ac.whop_channel_id}).json() == {
        "unread": 0
    }
    bad = call(alice, "post", url("mark-read"), {"channel_id": "</script>"})
    assert bad.status_code == 400


# --- the schema ----------------------------------------------------------------------------------------
EXPECTED_PATHS = {
    "/dm/api/token/": {"post"},
    "/dm/api/channels/": {"get", "post"},
    "/dm/api/channels/{id}/": {"get", "patch", "delete"},
    "/dm/api/channels/{id}/members/": {"get", "post"},
    "/dm/api/channels/{id}/members/{user_id}/": {"delete"},
    "/dm/api/read/": {"post"},
    "/dm/api/unread/": {"get"},
    "/dm/api/reminders/": {"get", "put"},
    "/dm/api/channels/{id}/reports/": {"post"},
    "/dm/api/channels/{id}/block/": {"post"},
    "/dm/api/blocks/": {"get"},
    "/dm/api/blocks/{id}/": {"delete"},
}


def test_schema_is_a_valid_openapi_document_with_dm_bridges_paths(make_user: Any):
    client = logged_in(make_user("reader"))
    as_yaml = client.get(reverse("dm_bridge:schema"))
    assert as_yaml.status_code == 200
    as_json = client.get(reverse("dm_bridge:schema"), {"format": "json"})
    assert as_json.status_code == 200
    spec = as_json.json()
    assert yaml.safe_load(as_yaml.content) == spec
    validate(spec)
    assert spec["openapi"].startswith("3.")
    for path, methods in EXPECTED_PATHS.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), (path, set(spec["paths"][path]))
    token = spec["paths"]["/dm/api/token/"]["post"]
    assert "user_id" not in json.dumps(token)  # nothing invites a caller to name the user
    assert set(token["responses"]["200"]["content"]["application/json"]["schema"].values()) == {
        "#/components/schemas/ChatToken"
    }


def test_spectacular_validates_the_projects_schema_without_warnings(tmp_path: Any):
    target = tmp_path / "schema.yml"
    out, err = StringIO(), StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(target), stdout=out, stderr=err
    )
    assert "Warning" not in err.getvalue() and "Error" not in err.getvalue(), err.getvalue()
    assert set(EXPECTED_PATHS) <= set(yaml.safe_load(target.read_text())["paths"])
