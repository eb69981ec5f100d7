"""Unread state services: mark_read and unread_count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from dm_bridge.models import DmChannel, DmMember
from dm_bridge.unread import mark_read, unread_count

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
