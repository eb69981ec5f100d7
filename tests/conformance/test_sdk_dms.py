"""DM channels, members, messages and reactions through the official SDK, unmodified."""

from __future__ import annotations

from sdk_conformance import ACCOUNT, raises
from whop_sdk.errors import ForbiddenError, NotFoundError


def test_dm_channels(sdk, user_sdk, people, recorder):
    alice, bob = people["alice"], people["bob"]
    channel = sdk.dm_channels.create(
        with_user_ids=[alice["id"], "bob"], account_id=ACCOUNT, custom_name="Deal"
    )
    assert channel.id.startswith("feed_") and channel.name == "Deal"
    assert int(channel.created_at) > 0  # ms since the epoch, as a string
    again = sdk.dm_channels.create(with_user_ids=["bob@example.test", alice["id"]])
    assert again.id == channel.id  # get-or-create
    assert sdk.dm_channels.retrieve(channel.id) == channel
    renamed = sdk.dm_channels.update(channel.id, custom_name="Deal 2")
    assert renamed.name == "Deal 2"
    as_bob = user_sdk(bob["id"])
    assert [c.id for c in as_bob.dm_channels.list(account_id=ACCOUNT)] == [channel.id]
    assert "channel_id" not in recorder.last("GET", f"/dm_channels/{channel.id}")
    with raises(ForbiddenError) as denied:  # bob is a member, not the admin
        as_bob.dm_channels.delete(channel.id)
    assert denied.value.status_code == 403
    assert sdk.dm_channels.delete(channel.id) is True
    with raises(NotFoundError):
        sdk.dm_channels.retrieve(channel.id)


def test_dm_members(sdk, user_sdk, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    channel = user_sdk(alice["id"]).dm_channels.create(with_user_ids=[bob["id"]])
    as_alice = user_sdk(alice["id"], ["dms:read", "dms:message:manage"])
    added = as_alice.dm_members.create(channel_id=channel.id, user_id=carol["id"])
    assert (added.channel_id, added.user_id, added.status) == (channel.id, carol["id"], "accepted")
    # Re-adding: 200 with the same member (the SDK would retry a 409 twice).
    assert as_alice.dm_members.create(channel_id=channel.id, user_id=carol["id"]) == added
    members = list(sdk.dm_members.list(channel_id=channel.id))
    assert {m.user_id for m in members[:2]} == {alice["id"], bob["id"]}
    assert members[2].user_id == carol["id"]  # sorted by the date they were added
    assert sdk.dm_members.retrieve(added.id) == added
    # A member (with dms:read only) mutes and then removes itself.
    as_carol = user_sdk(carol["id"], ["dms:read"])
    muted = as_carol.dm_members.update(added.id, notification_preference="none", status="archived")
    assert (muted.notification_preference, muted.status) == ("none", "archived")
    bobs = next(m for m in members if m.user_id == bob["id"])
    with raises(ForbiddenError):
        as_carol.dm_members.delete(bobs.id)
    assert as_carol.dm_members.delete(added.id) is True
    with raises(NotFoundError):
        as_carol.dm_channels.retrieve(channel.id)


def test_dm_member_preferences_set_by_the_api_key(sdk, user_sdk, people, recorder):
    """What dm_bridge sends for mute/archive: the company changes a member's own record,
    each field alone or both; the member sees it in its own record, the others keep theirs."""
    alice, bob = people["alice"], people["bob"]
    channel = sdk.dm_channels.create(with_user_ids=[alice["id"], bob["id"]], account_id=ACCOUNT)
    members = {m.user_id: m for m in sdk.dm_members.list(channel_id=channel.id)}
    bobs = members[bob["id"]]
    assert (bobs.status, sdk.dm_members.retrieve(bobs.id).notification_preference) == (
        "accepted",
        "all",
    )
    muted = sdk.dm_members.update(bobs.id, notification_preference="none")
    assert (muted.notification_preference, muted.status) == ("none", "accepted")
    raw = recorder.last("PATCH", f"/dm_members/{bobs.id}")  # Whop's shape, every field
    assert set(raw) >= {"id", "channel_id", "user_id", "notification_preference", "status"}
    archived = sdk.dm_members.update(bobs.id, status="archived")
    assert (archived.notification_preference, archived.status) == ("none", "archived")
    back = sdk.dm_members.update(bobs.id, notification_preference="all", status="accepted")
    assert (back.notification_preference, back.status) == ("all", "accepted")
    assert user_sdk(bob["id"]).dm_members.retrieve(bobs.id) == back
    alices = sdk.dm_members.retrieve(members[alice["id"]].id)
    assert (alices.notification_preference, alices.status) == ("all", "accepted")


def test_messages(sdk, user_sdk, people, recorder):
    alice, bob = people["alice"], people["bob"]
    as_alice, as_bob = user_sdk(alice["id"]), user_sdk(bob["id"])
    channel = as_alice.dm_channels.create(with_user_ids=[bob["id"]])
    first = as_alice.messages.create(channel_id=channel.id, content="Hello **bob**")
    assert first.message_type == "regular" and first.user.id == alice["id"]
    assert first.user.username == "alice" and first.user.name == "Alice"
    assert "channel_id" not in recorder.last("POST", "/messages")
    poll = {"options": [{"id": "yes", "text": "Yes"}, {"id": "no", "text": "No"}]}
    second = as_bob.messages.create(
        channel_id=channel.id, content="Vote?", poll=poll, replying_to_message_id=first.id
    )
    assert second.replying_to_message_id == first.id and second.poll is not None
    assert [o.id for o in second.poll.options or []] == ["yes", "no"]
    bot = sdk.messages.create(channel_id=channel.id, content="System notice")
    assert bot.message_type == "automated"
    listed = list(as_bob.messages.list(channel_id=channel.id, direction="asc"))
    assert [m.id for m in listed] == [first.id, second.id, bot.id]
    assert sdk.messages.retrieve(first.id).content == "Hello **bob**"
    edited = as_alice.messages.update(first.id, content="Hello again")
    assert edited.is_edited and edited.content == "Hello again"
    pinned = as_alice.messages.update(second.id, is_pinned=True)  # alice is the channel admin
    assert pinned.is_pinned
    with raises(ForbiddenError):
        as_bob.messages.delete(first.id)
    assert as_alice.messages.delete(second.id) is True  # an admin deletes another's message
    assert [m.id for m in as_alice.messages.list(channel_id=channel.id)] == [bot.id, first.id]


def test_reactions(sdk, user_sdk, people, recorder):
    alice, bob = people["alice"], people["bob"]
    as_alice, as_bob = user_sdk(alice["id"]), user_sdk(bob["id"])
    channel = as_alice.dm_channels.create(with_user_ids=[bob["id"]])
    message = as_alice.messages.create(channel_id=channel.id, content="React to me")
    heart = as_bob.reactions.create(resource_id=message.id, emoji=":heart:")
    assert heart.resource_id == message.id and heart.emoji == ":heart:"
    assert heart.user.id == bob["id"] and heart.user.username == "bob"
    fire = as_alice.reactions.create(resource_id=message.id, emoji=":fire:")
    counts = sdk.messages.retrieve(message.id).reaction_counts
    assert [(c.emoji, c.count) for c in counts] == [(":heart:", 1), (":fire:", 1)]
    assert [r.id for r in as_bob.reactions.list(resource_id=message.id)] == [fire.id, heart.id]
    assert as_bob.reactions.retrieve(heart.id) == heart
    with raises(ForbiddenError):  # neither its author nor a channel admin
        as_bob.reactions.delete(fire.id)
    assert as_alice.reactions.delete(heart.id) is True  # the channel admin
    assert as_alice.reactions.delete(message.id, emoji=":fire:") is True  # by message + emoji
    assert recorder.last("GET", f"/messages/{message.id}")["reaction_counts"] == [
        {"emoji": ":heart:", "count": 1},
        {"emoji": ":fire:", "count": 1},
    ]
    assert sdk.messages.retrieve(message.id).reaction_counts == []
    outsider = user_sdk(people["carol"]["id"])
    with raises(NotFoundError):  # membership is enforced, existence not revealed
        outsider.reactions.list(resource_id=message.id)
