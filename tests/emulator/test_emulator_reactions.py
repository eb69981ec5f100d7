"""Reactions on DM messages: counts, poll votes, who may remove them, membership."""

from __future__ import annotations

from emulator_support import assert_error


def _channel_and_message(api, users, client_for, **message_extra):
    alice, bob, carol = users("alice", "bob", "carol")
    as_alice = client_for(alice["id"])
    channel = as_alice.post("/dm_channels", json={"with_user_ids": ["bob"]}).json()  # alice: admin
    message = as_alice.post(
        "/messages", json={"channel_id": channel["id"], "content": "react", **message_extra}
    ).json()
    return (alice, bob, carol), channel, message


def test_reactions_update_counts_and_are_idempotent(api, users, client_for):
    (alice, bob, _), _, message = _channel_and_message(api, users, client_for)
    as_alice, as_bob = client_for(alice["id"]), client_for(bob["id"])
    heart = as_bob.post("/reactions", json={"resource_id": message["id"], "emoji": ":heart:"})
    assert heart.status_code == 200
    reaction = heart.json()
    assert reaction["id"].startswith("reac_") and reaction["resource_id"] == message["id"]
    assert reaction["user"] == {"id": bob["id"], "name": "Bob", "username": "bob"}
    # The same user, message and emoji again: the same reaction (emulator choice).
    again = as_bob.post("/reactions", json={"resource_id": message["id"], "emoji": ":heart:"})
    assert again.json() == reaction
    as_alice.post("/reactions", json={"resource_id": message["id"], "emoji": ":heart:"})
    as_alice.post("/reactions", json={"resource_id": message["id"], "emoji": ":fire:"})
    counts = api.get(f"/messages/{message['id']}").json()["reaction_counts"]
    assert counts == [{"emoji": ":heart:", "count": 2}, {"emoji": ":fire:", "count": 1}]
    listed = as_bob.get("/reactions", params={"resource_id": message["id"], "first": 2}).json()
    assert [r["emoji"] for r in listed["data"]] == [":fire:", ":heart:"]  # most recent first
    assert listed["page_info"]["has_next_page"] is True
    assert as_bob.get(f"/reactions/{reaction['id']}").json() == reaction


def test_who_may_remove_a_reaction(api, users, client_for):
    (alice, bob, _), channel, message = _channel_and_message(api, users, client_for)
    as_alice, as_bob = client_for(alice["id"]), client_for(bob["id"])
    by_alice = as_alice.post(
        "/reactions", json={"resource_id": message["id"], "emoji": ":wave:"}
    ).json()
    by_bob = as_bob.post("/reactions", json={"resource_id": message["id"], "emoji": ":ok:"}).json()
    assert_error(as_bob.delete(f"/reactions/{by_alice['id']}"), 403, "forbidden")
    assert as_alice.delete(f"/reactions/{by_bob['id']}").json() is True  # the channel admin
    assert_error(as_alice.get(f"/reactions/{by_bob['id']}"), 404, "not_found")
    # By message ID + emoji: removes the caller's own reaction.
    assert_error(as_bob.delete(f"/reactions/{message['id']}"), 400, "invalid_request")
    assert_error(
        as_bob.delete(f"/reactions/{message['id']}", params={"emoji": ":wave:"}), 404, "not_found"
    )
    assert as_alice.delete(f"/reactions/{message['id']}", params={"emoji": ":wave:"}).json()
    assert api.get(f"/messages/{message['id']}").json()["reaction_counts"] == []


def test_poll_votes(api, users, client_for):
    poll = {"options": [{"id": "opt_a", "text": "A"}, {"id": "opt_b", "text": "B"}]}
    (alice, bob, _), _, message = _channel_and_message(api, users, client_for, poll=poll)
    as_bob = client_for(bob["id"])
    vote = as_bob.post("/reactions", json={"resource_id": message["id"], "poll_option_id": "opt_b"})
    assert vote.status_code == 200 and vote.json()["emoji"] is None
    shaped = api.get(f"/messages/{message['id']}").json()
    assert shaped["poll_votes"] == [{"option_id": "opt_b", "count": 1}]
    assert shaped["reaction_counts"] == []
    assert_error(
        as_bob.post("/reactions", json={"resource_id": message["id"], "poll_option_id": "opt_z"}),
        422,
        "invalid_request",
    )
    assert_error(
        as_bob.post("/reactions", json={"resource_id": message["id"]}), 422, "invalid_request"
    )


def test_non_members_cannot_see_or_react(api, users, client_for):
    (_, _, carol), _, message = _channel_and_message(api, users, client_for)
    as_carol = client_for(carol["id"])
    assert_error(
        as_carol.post("/reactions", json={"resource_id": message["id"], "emoji": ":x:"}),
        404,
        "not_found",
    )
    assert_error(
        as_carol.get("/reactions", params={"resource_id": message["id"]}), 404, "not_found"
    )
    assert (
        api.post("/reactions", json={"resource_id": message["id"], "emoji": ":robot:"}).json()[
            "user"
        ]["username"]
        == "emulator-bot"
    )  # the API key reacts as the company's bot user
