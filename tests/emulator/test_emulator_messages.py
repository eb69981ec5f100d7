"""Messages: authorship, membership, ordering, pagination, edits and deletes."""

from __future__ import annotations

from datetime import datetime

from emulator_support import COMPANY, assert_error

MESSAGE_KEYS = {
    "id",
    "content",
    "created_at",
    "updated_at",
    "is_edited",
    "is_pinned",
    "mentions",
    "mentions_everyone",
    "message_type",
    "poll",
    "poll_votes",
    "reaction_counts",
    "replying_to_message_id",
    "user",
    "view_count",
}


def test_member_posts_as_themselves(api, users, client_for):
    alice, bob = users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    as_alice = client_for(alice["id"])
    response = as_alice.post(
        "/messages", json={"channel_id": channel["id"], "content": "**hi** bob"}
    )
    assert response.status_code == 200
    message = response.json()
    assert set(message) == MESSAGE_KEYS
    assert message["id"].startswith("post_")
    assert message["content"] == "**hi** bob"
    assert message["message_type"] == "regular"
    assert message["user"] == {"id": alice["id"], "name": "Alice", "username": "alice"}
    assert message["is_edited"] is False and message["is_pinned"] is False
    assert (
        message["mentions"] == []
        and message["poll_votes"] == []
        and message["reaction_counts"] == []
    )
    assert datetime.fromisoformat(message["created_at"]).tzinfo is not None
    assert message["updated_at"] == message["created_at"]
    # The channel's last_message_at follows.
    assert (
        api.get(f"/dm_channels/{channel['id']}").json()["last_message_at"] == message["created_at"]
    )
    assert client_for(bob["id"]).get(f"/messages/{message['id']}").json() == message


def test_api_key_messages_are_automated_and_authored_by_the_company_bot(api, users):
    users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    message = api.post(
        "/messages", json={"channel_id": channel["id"], "content": "Listing: bike"}
    ).json()
    assert message["message_type"] == "automated"
    assert message["user"]["id"].startswith("user_")
    assert message["user"]["username"].endswith("-bot")
    # The API key reads every channel of its company.
    assert (
        api.get("/messages", params={"channel_id": channel["id"]}).json()["data"][0]["id"]
        == message["id"]
    )


def test_non_members_get_404(api, users, client_for):
    alice, bob, eve = users("alice", "bob", "eve")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    message = (
        client_for(alice["id"])
        .post("/messages", json={"channel_id": channel["id"], "content": "secret"})
        .json()
    )
    as_eve = client_for(eve["id"])
    for response in (
        as_eve.get("/messages", params={"channel_id": channel["id"]}),
        as_eve.post("/messages", json={"channel_id": channel["id"], "content": "let me in"}),
        as_eve.get(f"/messages/{message['id']}"),
        as_eve.get(f"/dm_channels/{channel['id']}"),
        as_eve.get("/dm_members", params={"channel_id": channel["id"]}),
        as_eve.get("/messages", params={"channel_id": "feed_doesnotexist"}),
    ):
        assert_error(response, 404, "not_found")


def test_direction_and_pagination(api, users):
    users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    ids = [
        api.post("/messages", json={"channel_id": channel["id"], "content": f"m{i}"}).json()["id"]
        for i in range(7)
    ]
    newest_first = api.get("/messages", params={"channel_id": channel["id"]}).json()["data"]
    assert [m["id"] for m in newest_first] == list(reversed(ids))  # default: desc

    collected, cursor = [], None
    while True:
        params = {"channel_id": channel["id"], "direction": "asc", "first": 3}
        if cursor:
            params["after"] = cursor
        page = api.get("/messages", params=params).json()
        collected.append([m["id"] for m in page["data"]])
        if not page["page_info"]["has_next_page"]:
            break
        cursor = page["page_info"]["end_cursor"]
    assert collected == [ids[0:3], ids[3:6], ids[6:7]]

    last = api.get(
        "/messages", params={"channel_id": channel["id"], "direction": "asc", "last": 2}
    ).json()
    assert [m["id"] for m in last["data"]] == ids[5:7]
    assert last["page_info"]["has_previous_page"] is True
    # A cursor from the asc list cannot be used with desc.
    assert_error(
        api.get("/messages", params={"channel_id": channel["id"], "after": cursor}),
        400,
        "invalid_request",
    )
    assert_error(
        api.get("/messages", params={"channel_id": channel["id"], "direction": "sideways"}),
        422,
        "invalid_request",
    )


def test_edit_and_delete_rules(api, users, client_for):
    alice, bob = users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    as_alice, as_bob = client_for(alice["id"]), client_for(bob["id"])
    first = as_alice.post("/messages", json={"channel_id": channel["id"], "content": "one"}).json()
    second = as_alice.post("/messages", json={"channel_id": channel["id"], "content": "two"}).json()
    assert_error(
        as_bob.patch(f"/messages/{first['id']}", json={"content": "hacked"}), 403, "forbidden"
    )
    edited = as_alice.patch(f"/messages/{first['id']}", json={"content": "one (edited)"}).json()
    assert edited["content"] == "one (edited)" and edited["is_edited"] is True
    assert edited["updated_at"] >= edited["created_at"]
    pinned = api.patch(f"/messages/{first['id']}", json={"is_pinned": True}).json()
    assert pinned["is_pinned"] is True
    assert_error(as_bob.delete(f"/messages/{second['id']}"), 403, "forbidden")
    assert as_alice.delete(f"/messages/{second['id']}").json() is True
    assert_error(api.get(f"/messages/{second['id']}"), 404, "not_found")
    # last_message_at falls back to the newest remaining message.
    assert api.get(f"/dm_channels/{channel['id']}").json()["last_message_at"] == first["created_at"]


def test_a_channel_admin_may_delete_and_pin_others_messages_but_not_edit_them(users, client_for):
    """SDK: "Only the message author or a channel admin can delete a message"."""
    alice, bob = users("alice", "bob")
    as_alice, as_bob = client_for(alice["id"]), client_for(bob["id"])
    channel = as_alice.post("/dm_channels", json={"with_user_ids": ["bob"]}).json()  # alice: admin
    by_bob = as_bob.post("/messages", json={"channel_id": channel["id"], "content": "b"}).json()
    by_alice = as_alice.post("/messages", json={"channel_id": channel["id"], "content": "a"}).json()
    assert_error(
        as_alice.patch(f"/messages/{by_bob['id']}", json={"content": "edited"}), 403, "forbidden"
    )
    assert as_alice.patch(f"/messages/{by_bob['id']}", json={"is_pinned": True}).json()["is_pinned"]
    assert_error(
        as_bob.patch(f"/messages/{by_alice['id']}", json={"is_pinned": True}), 403, "forbidden"
    )
    assert_error(as_bob.delete(f"/messages/{by_alice['id']}"), 403, "forbidden")
    assert as_alice.delete(f"/messages/{by_bob['id']}").json() is True
    assert_error(as_alice.get(f"/messages/{by_bob['id']}"), 404, "not_found")


def test_message_validation(api, users):
    users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    assert_error(api.post("/messages", json={"channel_id": channel["id"]}), 400, "invalid_request")
    assert_error(api.post("/messages", json={"content": "x"}), 400, "invalid_request")
    assert_error(
        api.post("/messages", json={"channel_id": channel["id"], "content": 5}),
        400,
        "invalid_request",
    )
    assert_error(
        api.post("/messages", json={"channel_id": channel["id"], "content": "  "}),
        422,
        "invalid_request",
    )
    assert_error(
        api.post(
            "/messages",
            json={
                "channel_id": channel["id"],
                "content": "re",
                "replying_to_message_id": "post_nope",
            },
        ),
        422,
        "invalid_request",
    )
    assert_error(api.get("/messages"), 400, "invalid_request")
    original = api.post("/messages", json={"channel_id": channel["id"], "content": "q"}).json()
    reply = api.post(
        "/messages",
        json={
            "channel_id": channel["id"],
            "content": "a",
            "replying_to_message_id": original["id"],
        },
    ).json()
    assert reply["replying_to_message_id"] == original["id"]


def test_message_author_uses_the_company_profile(api, users, client_for):
    alice, bob = users("alice", "bob")
    api.patch(f"/users/{alice['id']}", json={"company_id": COMPANY, "name": "Alice @ Shop"})
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    message = (
        client_for(alice["id"])
        .post("/messages", json={"channel_id": channel["id"], "content": "x"})
        .json()
    )
    assert message["user"]["name"] == "Alice @ Shop"


def test_seeded_messages_are_listed(emulator, api):
    seeded = emulator.seed(
        users=[{"username": "sam"}, {"username": "kim", "id": "user_kim"}],
        dm_channels=[{"member_user_ids": ["sam", "user_kim"], "custom_name": "Seeded"}],
    )
    channel = seeded["dm_channels"][0]
    assert channel["name"] == "Seeded" and channel["id"].startswith("feed_")
    messages = emulator.seed(
        messages=[
            {"channel_id": channel["id"], "user_id": "user_kim", "content": "first"},
            {"channel_id": channel["id"], "user_id": seeded["users"][0]["id"], "content": "second"},
        ]
    )["messages"]
    assert [m["content"] for m in messages] == ["first", "second"]
    listed = api.get("/messages", params={"channel_id": channel["id"], "direction": "asc"}).json()[
        "data"
    ]
    assert [m["id"] for m in listed] == [m["id"] for m in messages]
    assert (
        api.get(f"/dm_channels/{channel['id']}").json()["last_message_at"]
        == messages[1]["created_at"]
    )
