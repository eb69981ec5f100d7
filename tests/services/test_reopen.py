"""services.reopen_dm: a row leaves a Whop DM it shares for one of its own."""

from __future__ import annotations

import pytest

from dm_bridge import services
from dm_bridge.exceptions import ChannelDeletedError
from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reopened_row_gets_a_new_dm_and_the_old_one_is_left_alone(whop, make_user):
    buyer, owner, identity = make_user(), make_user(), make_user()
    first = services.open_dm("shop:1/buyer:1", [buyer, owner], context_message="About: lamp")
    second = services.open_dm("shop:2/buyer:1", [buyer, owner])
    first.refresh_from_db()
    second.refresh_from_db()
    shared = first.whop_channel_id
    assert shared and second.whop_channel_id == shared  # one member set, one Whop DM

    services.reopen_dm(second, [buyer, owner, identity])
    second.refresh_from_db()
    assert second.status == DmChannel.Status.ACTIVE
    assert second.whop_channel_id not in ("", shared)
    assert second.key == "shop:2/buyer:1"
    assert set(second.members.values_list("status", flat=True)) == {DmMember.Status.ACTIVE}
    # The shared DM was neither deleted nor given the new member.
    assert [r["status"] for r in whop.requests("dm_channels.delete")] == []
    assert whop.requests("dm_members.create") == []
    first.refresh_from_db()
    assert first.whop_channel_id == shared


def test_reopen_posts_the_rows_messages_again_in_the_new_dm(whop, make_user):
    a, b, c = make_user(), make_user(), make_user()
    channel = services.open_dm("k", [a, b], context_message="About: lamp")
    assert DmOutboxMessage.objects.get(channel=channel).status == DmOutboxMessage.Status.SENT
    services.reopen_dm(channel, [a, b, c])
    posts = whop.requests("messages.create")
    assert len(posts) == 2 and posts[0]["body"]["channel_id"] != posts[1]["body"]["channel_id"]
    assert DmOutboxMessage.objects.get(channel=channel).status == DmOutboxMessage.Status.SENT


def test_members_changed_separately_first_reach_the_shared_dm(whop, make_user):
    """Why ``members`` is a parameter: committed apart, the new member joins the old DM."""
    buyer, owner, identity = make_user(), make_user(), make_user()
    first = services.open_dm("one", [buyer, owner])
    second = services.open_dm("two", [buyer, owner])
    services.set_members(second, [buyer, owner, identity])
    assert len(whop.requests("dm_members.create")) == 1  # into the DM that "one" uses too
    first.refresh_from_db()
    assert set(first.members.values_list("user", flat=True)) == {buyer.pk, owner.pk}


def test_a_deleted_row_cannot_be_reopened(whop, make_user):
    channel = services.open_dm("k", [make_user(), make_user()])
    services.delete_channel(channel)
    with pytest.raises(ChannelDeletedError):
        services.reopen_dm(channel)
