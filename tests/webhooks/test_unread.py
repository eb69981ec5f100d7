"""Unread state services: mark_read and unread_count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from dm_bridge.models import DmChannel, DmMember
from dm_bridge.unread import mark_read, unread_count, unread_per_channel

from .conftest import WHOP_CHANNEL_ID, active_channel

pytestmark = pytest.mark.django_db


def set_unread(dm: Any, user: Any, count: int, channel: DmChannel | None = None) -> None:
    DmMember.objects.filter(channel=channel or dm.channel, user=user).update(unread_count=count)


def test_unread_count_sums_current_memberships_of_live_channels(dm: Any) -> None:
    other = active_channel("other", [dm.bob], whop_channel_id="feed_other")
    gone = active_channel("gone", [dm.bob], whop_channel_id="feed_gone")
    left = active_channel("left", [dm.bob], whop_channel_id="feed_left")
    set_unread(dm, dm.bob, 2)
    set_unread(dm, dm.bob, 3, other)
    set_unread(dm, dm.bob, 5, gone)
    set_unread(dm, dm.bob, 7, left)
    DmChannel.objects.filter(pk=gone.pk).update(status=DmChannel.Status.DELETED)
    DmMember.objects.filter(channel=left).update(status=DmMember.Status.REMOVED)

    assert unread_count(dm.bob) == 5
    assert unread_count(dm.alice) == 0
    assert unread_count(AnonymousUser()) == 0


def test_a_whop_dm_shared_by_two_local_channels_counts_once(dm: Any) -> None:
    twin = active_channel("twin", [dm.alice, dm.bob])  # same Whop DM
    set_unread(dm, dm.bob, 4)
    set_unread(dm, dm.bob, 4, twin)
    assert unread_count(dm.bob) == 4


def test_a_capped_count_is_exact_up_to_the_cap_and_cap_plus_one_past_it(dm: Any) -> None:
    dms = [active_channel(f"c{i}", [dm.bob], whop_channel_id=f"feed_c{i}") for i in range(4)]
    for channel in dms[:3]:
        set_unread(dm, dm.bob, 1, channel)
    assert unread_count(dm.bob, cap=3) == 3  # 3 rows, all read: exact
    set_unread(dm, dm.bob, 1, dms[3])
    assert unread_count(dm.bob, cap=3) == 4  # past the cap: cap + 1, whatever the total
    set_unread(dm, dm.bob, 50, dms[3])
    assert unread_count(dm.bob, cap=3) == 4
    assert unread_count(dm.bob) == 53  # the API's exact total
    gone = DmChannel.objects.filter(pk__in=[c.pk for c in dms[1:]])
    gone.update(status=DmChannel.Status.DELETED)
    assert unread_count(dm.bob, cap=3) == 1  # deleted DMs count neither way


def test_a_capped_count_of_shared_whop_dms_falls_back_to_the_exact_total(dm: Any) -> None:
    # Four memberships over two Whop DMs: the first cap + 1 rows add up to 2, not past the cap.
    for key, whop_id in (("a1", "feed_a"), ("a2", "feed_a"), ("b1", "feed_b"), ("b2", "feed_b")):
        set_unread(dm, dm.bob, 1, active_channel(key, [dm.bob], whop_channel_id=whop_id))
    assert unread_count(dm.bob, cap=2) == 2
    assert unread_count(dm.bob, cap=3) == 2
    assert unread_count(dm.bob) == 2


def test_per_channel_counts_add_up_to_the_total_a_shared_whop_dm_on_its_oldest_row(
    dm: Any,
) -> None:
    twin = active_channel("twin", [dm.alice, dm.bob])  # same Whop DM as dm.channel, newer
    other = active_channel("other", [dm.bob], whop_channel_id="feed_other")
    gone = active_channel("gone", [dm.bob], whop_channel_id="feed_gone")
    for channel, count in ((dm.channel, 4), (twin, 4), (other, 2), (gone, 9)):
        set_unread(dm, dm.bob, count, channel)
    DmChannel.objects.filter(pk=gone.pk).update(status=DmChannel.Status.DELETED)
    every = [dm.channel.pk, twin.pk, other.pk, gone.pk]

    counts = unread_per_channel(dm.bob, every)
    assert counts == {dm.channel.pk: 4, twin.pk: 0, other.pk: 2}
    assert sum(counts.values()) == unread_count(dm.bob)
    # A page showing only the newer twin still counts it as 0: the oldest is elsewhere.
    assert unread_per_channel(dm.bob, [twin.pk]) == {twin.pk: 0}
    assert unread_per_channel(dm.bob, []) == {}
    assert unread_per_channel(AnonymousUser(), every) == {}


def test_mark_read_resets_every_membership_on_that_whop_dm(dm: Any) -> None:
    twin = active_channel("twin", [dm.alice, dm.bob])
    other = active_channel("other", [dm.bob], whop_channel_id="feed_other")
    for channel in (dm.channel, twin, other):
        set_unread(dm, dm.bob, 3, channel)
    set_unread(dm, dm.alice, 1)
    before = timezone.now()

    assert mark_read(dm.bob, WHOP_CHANNEL_ID) == 2

    bob = dm.member(dm.bob)
    assert bob.unread_count == 0 and bob.last_read_at >= before - timedelta(seconds=1)
    assert dm.member(dm.bob, twin).unread_count == 0
    assert dm.member(dm.bob, other).unread_count == 3
    assert dm.member(dm.alice).unread_count == 1
    assert unread_count(dm.bob) == 3


def test_mark_read_without_a_user_or_channel_does_nothing(dm: Any) -> None:
    assert mark_read(AnonymousUser(), WHOP_CHANNEL_ID) == 0
    assert mark_read(dm.bob, "") == 0
    assert mark_read(dm.bob, "feed_unknown") == 0
