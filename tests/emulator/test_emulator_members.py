"""DM members: add / list / retrieve / update / remove, the cap, and who may do what."""

from __future__ import annotations

import re

from emulator_support import assert_error


def test_member_lifecycle_and_shape(api, users):
    alice, bob, carol = users("alice", "bob", "carol")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    added = api.post("/dm_members", json={"channel_id": channel["id"], "user_id": carol["id"]})
    assert added.status_code == 200
    member = added.json()
    assert set(member) == {
        "id",
        "channel_id",
        "user_id",
        "last_viewed_at",
        "notification_preference",
        "status",
    }
    assert member["id"].startswith("dmm_")
    assert member["channel_id"] == channel["id"] and member["user_id"] == carol["id"]
    assert member["last_viewed_at"] is None
    assert (member["status"], member["notification_preference"]) == ("accepted", "all")

    assert api.get(f"/dm_members/{member['id']}").json() == member
    patched = api.patch(
        f"/dm_members/{member['id']}",
        json={"notification_preference": "mentions", "status": "hidden"},
    ).json()
    assert (patched["notification_preference"], patched["status"]) == ("mentions", "hidden")
    assert_error(
        api.patch(f"/dm_members/{member['id']}", json={"status": "banned"}), 422, "invalid_request"
    )

    listed = api.get("/dm_members", params={"channel_id": channel["id"]}).json()
    assert [m["user_id"] for m in listed["data"]][-1] == carol["id"]
    assert len(listed["data"]) == 3
    assert listed["page_info"]["has_next_page"] is False

    assert api.delete(f"/dm_members/{member['id']}").json() is True
    assert_error(api.get(f"/dm_members/{member['id']}"), 404, "not_found")
    assert len(api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]) == 2


def test_re_adding_a_member_returns_the_existing_member(api, users):
    """Idempotent (an emulator choice): 200 with the same DmMember, nothing added."""
    alice, bob = users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    members = api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
    bobs = next(m for m in members if m["user_id"] == bob["id"])
    again = api.post("/dm_members", json={"channel_id": channel["id"], "user_id": "bob"})
    assert again.status_code == 200
    assert again.json() == bobs
    assert api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"] == members


def test_fifty_first_member_is_422(emulator, api):
    people = emulator.seed(users=[{"username": f"u{i:02d}"} for i in range(51)])["users"]
    channel = api.post(
        "/dm_channels", json={"with_user_ids": [p["id"] for p in people[:49]]}
    ).json()
    fiftieth = api.post(
        "/dm_members", json={"channel_id": channel["id"], "user_id": people[49]["id"]}
    )
    assert fiftieth.status_code == 200
    error = assert_error(
        api.post("/dm_members", json={"channel_id": channel["id"], "user_id": people[50]["id"]}),
        422,
        "invalid_request",
    )
    assert "50" in error["message"]


def test_member_requests_validate_their_inputs(api, users):
    alice, bob = users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    assert_error(api.get("/dm_members"), 400, "invalid_request")
    assert_error(api.post("/dm_members", json={"user_id": alice["id"]}), 400, "invalid_request")
    assert_error(
        api.post("/dm_members", json={"channel_id": "feed_nope", "user_id": alice["id"]}),
        404,
        "not_found",
    )
    assert_error(
        api.post("/dm_members", json={"channel_id": channel["id"], "user_id": "user_nope"}),
        422,
        "invalid_request",
    )
    assert_error(api.get("/dm_members", params={"channel_id": "feed_nope"}), 404, "not_found")


def test_removed_member_loses_access(api, users, client_for):
    alice, bob, carol = users("alice", "bob", "carol")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob", "carol"]}).json()
    as_carol = client_for(carol["id"])
    assert as_carol.get(f"/dm_channels/{channel['id']}").status_code == 200
    assert (
        as_carol.post("/messages", json={"channel_id": channel["id"], "content": "hi"}).status_code
        == 200
    )
    members = api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
    carol_member = next(m for m in members if m["user_id"] == carol["id"])
    assert api.delete(f"/dm_members/{carol_member['id']}").json() is True
    assert_error(as_carol.get(f"/dm_channels/{channel['id']}"), 404, "not_found")
    assert_error(as_carol.get("/messages", params={"channel_id": channel["id"]}), 404, "not_found")
    assert_error(
        as_carol.post("/messages", json={"channel_id": channel["id"], "content": "still here?"}),
        404,
        "not_found",
    )
    assert as_carol.get("/dm_channels").json()["data"] == []


def test_token_members_may_leave_but_not_remove_others(api, users, client_for):
    alice, bob, carol = users("alice", "bob", "carol")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob", "carol"]}).json()
    members = {
        m["user_id"]: m
        for m in api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
    }
    as_bob = client_for(bob["id"])
    assert_error(as_bob.delete(f"/dm_members/{members[carol['id']]['id']}"), 403, "forbidden")
    assert_error(
        as_bob.post("/dm_members", json={"channel_id": channel["id"], "user_id": "dave"}),
        403,
        "forbidden",
    )
    assert as_bob.delete(f"/dm_members/{members[bob['id']]['id']}").json() is True
    assert_error(as_bob.get(f"/dm_channels/{channel['id']}"), 404, "not_found")


def test_creator_token_may_add_members(api, users, client_for):
    alice, bob, carol = users("alice", "bob", "carol")
    as_alice = client_for(alice["id"])
    channel = as_alice.post("/dm_channels", json={"with_user_ids": [bob["id"]]}).json()
    added = as_alice.post("/dm_members", json={"channel_id": channel["id"], "user_id": carol["id"]})
    assert added.status_code == 200
    as_carol = client_for(carol["id"])
    assert as_carol.get(f"/dm_channels/{channel['id']}").status_code == 200


def test_last_viewed_at_is_set_when_a_member_reads(api, users, client_for):
    alice, bob = users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    client_for(alice["id"]).get("/messages", params={"channel_id": channel["id"]})
    members = api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
    viewed = {m["user_id"]: m["last_viewed_at"] for m in members}
    assert re.fullmatch(r"\d{13}", viewed[alice["id"]])
    assert viewed[bob["id"]] is None
