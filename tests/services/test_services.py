"""dm_bridge services against the emulator over HTTP, work run inline (TASKS_ENABLED=False)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

import dm_bridge
from dm_bridge import services
from dm_bridge.exceptions import (
    ChannelDeletedError,
    InvalidDmRequest,
    MemberLimitExceeded,
    UserNotProvisionable,
)
from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage, WhopUserLink
from dm_bridge.testing import DEFAULT_API_KEY
from dm_bridge.whop import WhopServerError

pytestmark = pytest.mark.django_db(transaction=True)


def api(emulator, token: str = DEFAULT_API_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=emulator.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def user_token(emulator, whop_user_id: str) -> str:
    with api(emulator) as http:
        body = {
            "company_id": "biz_emulator",
            "user_id": whop_user_id,
            "scoped_actions": ["dms:read", "dms:message:manage"],
        }
        return http.post("/access_tokens", json=body).raise_for_status().json()["token"]


def whop_id(user) -> str:
    return WhopUserLink.objects.get(user=user).whop_user_id


def test_open_dm_creates_the_channel_on_whop_with_its_members(whop, make_user):
    buyer, seller = make_user("buyer"), make_user("seller")
    channel = services.open_dm("shop:1/buyer:1", [buyer, seller], custom_name="Vintage lamp")
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE
    assert channel.whop_channel_id.startswith("feed_")
    assert channel.attempts == 1
    assert set(channel.members.values_list("status", flat=True)) == {DmMember.Status.ACTIVE}
    with api(whop) as http:
        members = http.get("/dm_members", params={"channel_id": channel.whop_channel_id}).json()[
            "data"
        ]
        remote = http.get(f"/dm_channels/{channel.whop_channel_id}").json()
    assert {m["user_id"] for m in members} == {whop_id(buyer), whop_id(seller)}
    assert remote["name"] == "Vintage lamp"
    # Display names were set for the company.
    with api(whop) as http:
        profile = http.get(f"/users/{whop_id(buyer)}", params={"company_id": "biz_emulator"}).json()
    assert profile["name"] == "buyer"


def test_open_dm_is_idempotent_by_key(whop, make_user):
    a, b = make_user(), make_user()
    first = services.open_dm("k", [a, b])
    second = services.open_dm("k", [a, b])
    assert first.pk == second.pk
    assert DmChannel.objects.count() == 1
    assert len(whop.requests("dm_channels.create")) == 1


@pytest.mark.parametrize(
    ("key", "name", "error"),
    [
        ("", "", "non-empty key"),
        ("   ", "", "non-empty key"),
        ("k" * 201, "", "at most 200 characters"),
        ("ok", "n" * 101, "at most 100 characters"),
    ],
)
def test_bad_key_or_name_is_refused_before_anything_is_written(whop, make_user, key, name, error):
    a, b = make_user(), make_user()
    with pytest.raises(InvalidDmRequest, match=error):
        services.open_dm(key, [a, b], custom_name=name)
    assert DmChannel.objects.count() == 0
    assert whop.requests() == []


def test_bad_member_lists_are_refused(whop, make_user):
    a = make_user()
    with pytest.raises(InvalidDmRequest, match="at least one member"):
        services.open_dm("k", [])
    with pytest.raises(InvalidDmRequest, match="list of user objects"):
        services.open_dm("k", "alice")
    ghost = make_user()
    ghost_pk = ghost.pk
    ghost.delete()
    ghost.pk = ghost_pk
    with pytest.raises(InvalidDmRequest, match="does not exist"):
        services.open_dm("k", [a, ghost])
    too_many = [make_user() for _ in range(51)]
    with pytest.raises(MemberLimitExceeded, match="at most 50"):
        services.open_dm("k", too_many)
    assert DmChannel.objects.count() == 0
    assert DmMember.objects.count() == 0
    assert whop.requests() == []


def test_user_without_email_is_refused_before_anything_is_written(whop, make_user):
    a, no_email = make_user(), make_user(email=None)
    with pytest.raises(UserNotProvisionable, match="no email"):
        services.open_dm("k", [a, no_email])
    assert DmChannel.objects.count() == 0
    assert whop.requests() == []


def test_fifty_first_member_is_refused_without_a_whop_call(whop, make_user):
    users = [make_user() for _ in range(50)]
    channel = services.open_dm("big", users)
    assert DmChannel.objects.get(pk=channel.pk).status == DmChannel.Status.ACTIVE
    before = len(whop.requests())
    with pytest.raises(MemberLimitExceeded, match="50 members"):
        services.add_member(channel, make_user())
    assert len(whop.requests()) == before
    assert channel.members.count() == 50


def test_added_member_joins_and_removed_member_loses_access(whop, make_user):
    a, b, staff = make_user(), make_user(), make_user()
    channel = services.open_dm("k", [a, b])
    member = services.add_member(channel, staff)
    member.refresh_from_db()
    assert member.status == DmMember.Status.ACTIVE and member.whop_member_id
    channel.refresh_from_db()
    token = user_token(whop, whop_id(staff))
    with api(whop, token) as http:
        assert (
            http.get("/messages", params={"channel_id": channel.whop_channel_id}).status_code == 200
        )

    services.remove_member(channel, staff)
    member.refresh_from_db()
    assert member.status == DmMember.Status.REMOVED
    with api(whop, token) as http:
        assert (
            http.get("/messages", params={"channel_id": channel.whop_channel_id}).status_code == 404
        )
    assert services.remove_member(channel, staff) is None  # idempotent


def test_set_members_adds_and_removes(whop, make_user):
    a, b, c, d = (make_user() for _ in range(4))
    channel = services.open_dm("k", [a, b, c])
    services.set_members(channel, [a, b, d])
    statuses = dict(channel.members.values_list("user_id", "status"))
    assert statuses == {a.pk: "active", b.pk: "active", c.pk: "removed", d.pk: "active"}
    channel.refresh_from_db()
    with api(whop) as http:
        remote = http.get("/dm_members", params={"channel_id": channel.whop_channel_id}).json()[
            "data"
        ]
    assert {m["user_id"] for m in remote} == {whop_id(a), whop_id(b), whop_id(d)}


def test_rename_and_delete(whop, make_user):
    a, b = make_user(), make_user()
    channel = services.open_dm("k", [a, b])
    services.rename_channel(channel, "Lamp questions")
    channel.refresh_from_db()
    with api(whop) as http:
        assert (
            http.get(f"/dm_channels/{channel.whop_channel_id}").json()["name"] == "Lamp questions"
        )
    services.delete_channel(channel)
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.DELETED and channel.deleted_on_whop
    with api(whop) as http:
        assert http.get(f"/dm_channels/{channel.whop_channel_id}").status_code == 404
    with pytest.raises(ChannelDeletedError):
        services.delete_channel(channel)
    with pytest.raises(ChannelDeletedError):
        services.open_dm("k", [a, b])


def test_two_keys_with_the_same_members_share_one_whop_dm(whop, make_user):
    owner, buyer = make_user(), make_user()
    shop1 = services.open_dm("shop:1/buyer:9", [buyer, owner])
    shop2 = services.open_dm("shop:2/buyer:9", [buyer, owner])
    shop1.refresh_from_db()
    shop2.refresh_from_db()
    assert shop1.status == shop2.status == DmChannel.Status.ACTIVE
    assert shop1.whop_channel_id == shop2.whop_channel_id
    services.delete_channel(shop1)
    with api(whop) as http:
        assert http.get(f"/dm_channels/{shop2.whop_channel_id}").status_code == 200
    services.delete_channel(shop2)
    with api(whop) as http:
        assert http.get(f"/dm_channels/{shop2.whop_channel_id}").status_code == 404


def test_context_messages_post_once_per_dedupe_key(whop, make_user):
    a, b = make_user(), make_user()
    channel = services.open_dm("k", [a, b], context_message="About: Lamp", context_key="listing:1")
    services.open_dm("k", [a, b], context_message="About: Lamp", context_key="listing:1")
    services.post_message(channel, "About: Chair", dedupe_key="listing:2")
    assert DmOutboxMessage.objects.filter(status="sent").count() == 2
    assert len(whop.requests("messages.create")) == 2
    with pytest.raises(InvalidDmRequest):
        services.post_message(channel, "   ")


def test_connected_account_is_created_once_after_an_ambiguous_failure(whop, make_user):
    user = make_user()
    whop.add_fault("accounts.create", mode="commit_then_error", status=500, times=1)
    with pytest.raises(WhopServerError):
        services.ensure_whop_user(user)
    link = WhopUserLink.objects.get(user=user)
    assert link.status == WhopUserLink.Status.PENDING and link.attempts == 1 and link.last_error
    WhopUserLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())
    link = services.ensure_whop_user(user)
    assert link.status == WhopUserLink.Status.ACTIVE
    with api(whop) as http:
        accounts = http.get("/accounts", params={"parent_account_id": "biz_emulator"}).json()[
            "data"
        ]
    assert [acc["metadata"]["external_id"] for acc in accounts] == [str(user.pk)]
    assert len(whop.requests("accounts.create")) == 1


def test_an_account_made_by_an_older_dm_bridge_is_found_not_duplicated(whop, make_user):
    """Before 0.2 the marker was ``metadata.internal_user_id`` (through POST /companies)."""
    user = make_user()
    with api(whop) as http:
        legacy = http.post(
            "/companies",
            json={
                "email": user.email,
                "parent_company_id": "biz_emulator",
                "title": "legacy",
                "metadata": {"internal_user_id": str(user.pk)},
            },
        ).json()
    # The earlier attempt's answer was lost (crash): the link only knows it tried.
    WhopUserLink.objects.create(user=user, attempts=1, next_attempt_at=timezone.now())
    link = services.ensure_whop_user(user)
    assert link.connected_account_id == legacy["id"]
    assert link.whop_user_id == legacy["owner_user"]["id"]
    assert whop.requests("accounts.create") == []


def test_intent_keys_are_stable_per_intent_and_differ_between_intents(make_user):
    one = DmChannel.objects.create(company_id="biz_x", key="one")
    two = DmChannel.objects.create(company_id="biz_x", key="two")
    key = services.intent_key("dm_channels.create", one, "user_a", "user_b")
    assert key == services.intent_key("dm_channels.create", one, "user_a", "user_b")
    assert key.startswith("dmb_") and len(key) <= 64
    assert key != services.intent_key("dm_channels.create", two, "user_a", "user_b")
    assert key != services.intent_key("dm_channels.create", one, "user_a", "user_c")
    member = DmMember.objects.create(channel=one, user=make_user())
    first_add = services.intent_key("dm_members.create", member, "feed_1", member.removed_at)
    member.removed_at = timezone.now()  # removed, then added again: a new intent
    assert first_add != services.intent_key(
        "dm_members.create", member, "feed_1", member.removed_at
    )


def test_retries_of_one_intent_send_one_idempotency_key(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("messages.create", mode="error", status=503, times=1)
    channel = services.open_dm("k", [a, b], context_message="About: Lamp")
    DmChannel.objects.filter(pk=channel.pk).update(next_attempt_at=timezone.now())
    assert services.drive_channel(channel.pk) == "done"
    posts = whop.requests("messages.create")
    assert [p["status"] for p in posts] == [503, 200]
    assert posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
    assert posts[0]["idempotency_key"].startswith("dmb_")
    services.post_message(channel, "About: Chair")  # a new intent: a new key
    assert whop.requests("messages.create")[-1]["idempotency_key"] != posts[0]["idempotency_key"]
    creates = whop.requests("dm_channels.create") + whop.requests("accounts.create")
    assert all(r["idempotency_key"] for r in creates)
    agents = {r["user_agent"] for r in whop.requests()}
    assert agents == {f"dm-bridge/{dm_bridge.__version__}"}


def test_commit_then_error_on_create_keeps_the_first_channel(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", mode="commit_then_error", status=500, times=1)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.PENDING and channel.failures == 1
    assert "server error" in channel.last_error
    DmChannel.objects.filter(pk=channel.pk).update(next_attempt_at=timezone.now())
    assert services.drive_channel(channel.pk) == "done"
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE and channel.attempts == 2
    with api(whop) as http:
        assert [c["id"] for c in http.get("/dm_channels").json()["data"]] == [
            channel.whop_channel_id
        ]


def test_sweeper_picks_up_work_whose_time_has_come(whop, make_user, settings):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=503, times=1)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.PENDING and channel.next_attempt_at
    assert services.sweep() == {"channels": 0, "user_links": 0, "webhook_events": 0}  # not due
    DmChannel.objects.filter(pk=channel.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.sweep()["channels"] == 1  # inline mode: the sweeper runs the work
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE


def test_reconcile_repairs_a_member_removed_on_whop(whop, make_user):
    a, b = make_user(), make_user()
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    member_b = channel.members.get(user=b)
    with api(whop) as http:
        remote = http.get("/dm_members", params={"channel_id": channel.whop_channel_id}).json()[
            "data"
        ]
        victim = next(m for m in remote if m["user_id"] == whop_id(b))
        http.delete(f"/dm_members/{victim['id']}").raise_for_status()
    report = services.reconcile_channel(channel)
    assert "re-adding" in str(report)
    member_b.refresh_from_db()
    assert member_b.status == DmMember.Status.ACTIVE  # inline mode re-added it
    with api(whop) as http:
        remote = http.get("/dm_members", params={"channel_id": channel.whop_channel_id}).json()[
            "data"
        ]
    assert whop_id(b) in {m["user_id"] for m in remote}
    assert str(services.reconcile_channel(channel)) == "in sync"


def test_errors_are_described_in_plain_words_without_the_key(whop, make_user, settings):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "API_KEY": "apik_wrong_key_value"}
    a, b = make_user(), make_user()
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED
    assert "rejected the API key" in channel.last_error
    assert "apik_wrong_key_value" not in channel.last_error


def test_deleting_a_channel_whose_create_was_refused_makes_no_whop_channel(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED and not channel.needs_reconcile
    services.delete_channel(channel)
    assert len(whop.requests("dm_channels.create")) == 1
    assert whop.requests("dm_channels.delete") == []


def test_deleting_after_an_ambiguous_create_finds_and_deletes_the_whop_channel(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", mode="commit_then_error", status=500, times=1)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert channel.needs_reconcile and not channel.whop_channel_id
    services.delete_channel(channel)
    channel.refresh_from_db()
    assert channel.deleted_on_whop and channel.whop_channel_id
    with api(whop) as http:
        assert http.get("/dm_channels").json()["data"] == []


def test_enqueue_user_sync_links_users_and_skips_linked_ones(whop, make_user):
    users = [make_user() for _ in range(3)]
    assert services.enqueue_user_sync(users) == 3  # inline mode: provisioned right away
    assert WhopUserLink.objects.filter(status="active").count() == 3
    assert services.enqueue_user_sync(users) == 0
    assert len(whop.requests("accounts.create")) == 3


def test_error_descriptions_do_not_double_full_stops(whop, make_user):
    a, b = make_user(), make_user()
    whop.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("k", [a, b])
    channel.refresh_from_db()
    assert ".." not in channel.last_error


def test_signals_fire_after_commit(whop, make_user):
    from dm_bridge import signals

    seen = []

    def record(name):
        def receiver(sender, **kwargs):
            seen.append((name, sender.__name__, sorted(kwargs)))

        return receiver

    receivers = {
        name: record(name)
        for name in (
            "whop_user_linked",
            "dm_channel_ready",
            "dm_channel_failed",
            "dm_member_added",
            "dm_member_removed",
        )
    }
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        a, b, c = make_user(), make_user(), make_user()
        channel = services.open_dm("k", [a, b])
        services.add_member(channel, c)
        services.remove_member(channel, c)
        whop.add_fault("dm_channels.create", status=403, times=1)
        services.open_dm("k2", [a, c])
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)
    names = [s[0] for s in seen]
    assert names.count("whop_user_linked") == 3
    assert names.count("dm_channel_ready") == 1
    assert names.count("dm_member_added") == 1 and names.count("dm_member_removed") == 1
    assert names.count("dm_channel_failed") == 1
    assert ("dm_channel_ready", "DmChannel", ["channel", "signal"]) in seen
    assert ("dm_member_added", "DmMember", ["channel", "member", "signal", "user"]) in seen
    assert ("dm_channel_failed", "DmChannel", ["channel", "error", "signal"]) in seen
