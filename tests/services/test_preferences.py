"""Mute and archive per membership: stored here, applied to Whop's ``dm_members`` by the engine.

Against the emulator over HTTP, work run inline (TASKS_ENABLED=False); what Whop got is read
back with the official SDK (``dm_members.retrieve``) and from the emulator's request log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from dm_bridge import gateway, services, signals
from dm_bridge.exceptions import ChannelDeletedError, InvalidDmRequest
from dm_bridge.models import DmChannel, DmMember, WebhookEvent
from tests.webhooks.conftest import SECRET
from tests.whop_users import post_as

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dm(whop: Any, make_user: Any) -> tuple[DmChannel, Any, Any]:
    alice, bob = make_user("alice"), make_user("bob")
    channel = services.open_dm("shop:1/buyer:1", [alice, bob])
    channel.refresh_from_db()
    assert channel.is_ready
    return channel, alice, bob


@pytest.fixture
def preference_signals() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def muted(sender: Any, **kwargs: Any) -> None:
        calls.append(("muted", kwargs))

    def archived(sender: Any, **kwargs: Any) -> None:
        calls.append(("archived", kwargs))

    signals.dm_member_muted.connect(muted, weak=False)
    signals.dm_member_archived.connect(archived, weak=False)
    yield calls
    signals.dm_member_muted.disconnect(muted)
    signals.dm_member_archived.disconnect(archived)


def on_whop(channel: DmChannel, user: Any) -> Any:
    """The user's member record as Whop has it (the SDK's DmMember), found by Whop user."""
    whop = gateway.get_client()
    [listed] = [
        m
        for m in whop.dm_members.list(channel_id=channel.whop_channel_id)
        if m.user_id == user.whop_link.whop_user_id
    ]
    return whop.dm_members.retrieve(listed.id)


def updates(whop: Any) -> list[dict[str, Any]]:
    return [r["body"] for r in whop.requests("dm_members.update")]


def test_mute_is_applied_to_whop_and_unmute_undoes_it(whop, dm, preference_signals):
    channel, alice, bob = dm
    member = services.mute(channel, bob)
    assert member.muted and member.user == bob
    assert on_whop(channel, bob).notification_preference == "none"
    assert on_whop(channel, alice).notification_preference == "all"  # only bob's record
    assert updates(whop) == [{"notification_preference": "none"}]
    stored = DmMember.objects.get(pk=member.pk)
    assert stored.whop_notification_preference == "none" and stored.last_error == ""
    [(kind, kwargs)] = preference_signals
    assert kind == "muted" and kwargs["muted"] is True and kwargs["user"] == bob
    assert kwargs["channel"].pk == channel.pk

    assert not services.mute(channel, bob, muted=False).muted
    assert on_whop(channel, bob).notification_preference == "all"
    assert updates(whop)[-1] == {"notification_preference": "all"}


def test_muting_twice_changes_nothing_the_second_time(whop, dm, preference_signals):
    channel, _, bob = dm
    services.mute(channel, bob)
    services.mute(channel, bob)
    assert len(updates(whop)) == 1
    assert len(preference_signals) == 1


def test_archive_sets_whop_status_and_leaves_the_inbox_queryset(whop, dm, preference_signals):
    channel, alice, bob = dm
    services.archive(channel, bob)
    assert on_whop(channel, bob).status == "archived"
    assert on_whop(channel, alice).status == "accepted"
    assert updates(whop) == [{"status": "archived"}]
    bob_member = DmMember.objects.get(channel=channel, user=bob)
    assert bob_member.archived and bob_member.archived_at is not None
    assert not DmMember.objects.filter(user=bob).in_inbox().exists()
    assert DmMember.objects.filter(user=alice).in_inbox().exists()
    assert preference_signals[0][0] == "archived" and preference_signals[0][1]["archived"]

    services.archive(channel, bob, archived=False)
    assert on_whop(channel, bob).status == "accepted"
    assert DmMember.objects.get(pk=bob_member.pk).archived_at is None


def test_muted_members_want_no_reminders(dm):
    channel, alice, bob = dm
    services.mute(channel, bob)
    assert list(DmMember.objects.filter(channel=channel).wants_reminders()) == [
        DmMember.objects.get(channel=channel, user=alice)
    ]


def test_a_preference_set_before_the_channel_exists_on_whop_is_applied_after(whop, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    whop.add_fault("dm_channels.create", status=503, times=1)
    channel = services.open_dm("k", [alice, bob])
    channel.refresh_from_db()
    assert not channel.whop_channel_id  # Whop was unavailable: the row waits
    with transaction.atomic():  # one request: the work runs once, on commit
        services.mute(channel, bob)
        services.archive(channel, bob)
    channel.refresh_from_db()
    assert channel.is_ready
    remote = on_whop(channel, bob)
    assert (remote.notification_preference, remote.status) == ("none", "archived")
    # One call for both fields (the member ID was learnt from Whop's member list).
    assert updates(whop) == [{"notification_preference": "none", "status": "archived"}]


def test_whop_unavailable_is_retried_like_other_work(whop, dm):
    channel, _, bob = dm
    whop.add_fault("dm_members.update", status=503, times=1)
    services.mute(channel, bob)
    channel.refresh_from_db()
    assert channel.next_attempt_at is not None and channel.failures == 1
    assert on_whop(channel, bob).notification_preference == "all"
    assert services.drive_channel(channel.pk) == "done"
    assert on_whop(channel, bob).notification_preference == "none"
    assert [r["status"] for r in whop.requests("dm_members.update")] == [503, 200]


def test_a_refusal_is_recorded_on_the_member_and_does_not_block_the_channel(whop, dm):
    channel, alice, bob = dm
    whop.add_fault("dm_members.update", status=403, times=1)
    with transaction.atomic():
        services.mute(channel, bob)
        services.rename_channel(channel, "Still renamed")
    member = DmMember.objects.get(channel=channel, user=bob)
    assert "lacks a permission" in member.last_error, member.last_error
    assert member.status == DmMember.Status.ACTIVE
    channel.refresh_from_db()
    assert channel.whop_name == "Still renamed" and channel.status == DmChannel.Status.ACTIVE
    assert on_whop(channel, bob).notification_preference == "all"
    # Still out of sync, so the channel's next run tries again (as for a refused rename).
    services.drive_channel(channel.pk)  # nothing due: idle
    services.rename_channel(channel, "Again")
    assert on_whop(channel, bob).notification_preference == "none"
    assert DmMember.objects.get(pk=member.pk).last_error == ""


def test_only_current_members_of_live_channels_can_set_preferences(dm, make_user):
    channel, _, bob = dm
    stranger = make_user("stranger")
    with pytest.raises(InvalidDmRequest, match="not a member"):
        services.mute(channel, stranger)
    services.remove_member(channel, bob)
    with pytest.raises(InvalidDmRequest, match="not a member"):
        services.archive(channel, bob)
    services.delete_channel(channel)
    with pytest.raises(ChannelDeletedError):
        services.mute(channel, stranger)


def test_a_whop_dm_shared_by_two_rows_gets_one_preference(whop, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    first = services.open_dm("shop:1/buyer:1", [alice, bob])
    second = services.open_dm("shop:2/buyer:1", [alice, bob])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.whop_channel_id == second.whop_channel_id  # Whop: one DM per member set
    services.mute(first, bob)
    assert set(DmMember.objects.filter(user=bob).values_list("channel__key", "muted")) == {
        ("shop:1/buyer:1", True),
        ("shop:2/buyer:1", True),
    }
    services.drive_channel(second.pk)
    assert updates(whop) == [{"notification_preference": "none"}]  # no tug of war


def test_an_existing_member_needs_no_call(whop, dm):
    """Members from before this feature know nothing of Whop's values: defaults are assumed."""
    channel, _, bob = dm
    DmMember.objects.filter(channel=channel).update(
        whop_notification_preference="", whop_member_status=""
    )
    services.rename_channel(channel, "Touch")  # a converge run
    assert updates(whop) == []


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the webhook to be processed")
        time.sleep(0.1)


def test_a_new_message_brings_an_archived_conversation_back(
    whop, dm, settings, webhook_receiver_url, preference_signals
):
    """Over real HTTP: alice writes on Whop, the emulator's signed webhook reaches us."""
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "WEBHOOK_SECRET": SECRET}
    whop.add_webhook(webhook_receiver_url, SECRET)
    channel, alice, bob = dm
    services.archive(channel, alice)  # the author's own archive stays
    services.archive(channel, bob)
    assert on_whop(channel, bob).status == "archived"

    post_as(whop.api_url, alice.whop_link.whop_user_id, channel.whop_channel_id, "still there?")
    wait_for(
        lambda: (
            WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).exists()
            and not DmMember.objects.get(channel=channel, user=bob).archived
        )
    )
    assert DmMember.objects.get(channel=channel, user=alice).archived
    bob_member = DmMember.objects.get(channel=channel, user=bob)
    assert bob_member.unread_count == 1
    wait_for(lambda: on_whop(channel, bob).status == "accepted")
    restored = [k for kind, k in preference_signals if kind == "archived" and not k["archived"]]
    assert [k["user"] for k in restored] == [bob]


def test_an_older_message_delivered_late_does_not_unarchive(dm):
    from datetime import timedelta

    from django.utils import timezone
    from whop_sdk import PostChatMessageCreatedPayload

    from dm_bridge.services import incoming
    from tests.webhooks.conftest import message_event

    channel, alice, bob = dm
    services.archive(channel, bob)
    sent = timezone.now() - timedelta(minutes=5)
    event = message_event(
        channel_id=channel.whop_channel_id,
        author_id=alice.whop_link.whop_user_id,
        created_at=sent,
    )
    payload = PostChatMessageCreatedPayload.model_validate_json(event)
    with transaction.atomic():
        incoming.message_received([channel], payload, {alice.pk})
    assert DmMember.objects.get(channel=channel, user=bob).archived
    fresh = PostChatMessageCreatedPayload.model_validate_json(
        message_event(channel_id=channel.whop_channel_id, author_id=alice.whop_link.whop_user_id)
    )
    with transaction.atomic():
        incoming.message_received([channel], fresh, {alice.pk})
    assert not DmMember.objects.get(channel=channel, user=bob).archived


def test_a_mute_while_the_worker_adds_the_member_is_not_lost(whop, dm, make_user):
    """The worker saves the added member after a slow Whop call; the mute that landed
    meanwhile (a real concurrent request, on PostgreSQL row locks) survives and is applied."""
    import threading

    channel, _, _ = dm
    carol = make_user("carol")
    whop.add_fault("dm_members.create", latency_ms=1500, times=1)
    from django.db import connection

    def add() -> None:
        try:
            services.add_member(channel, carol)
        finally:
            connection.close()  # this thread's own connection

    adding = threading.Thread(target=add)
    adding.start()
    try:
        deadline = time.monotonic() + 5
        while not DmMember.objects.filter(channel=channel, user=carol).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # the worker (inline, in that thread) is now waiting for Whop
        services.mute(channel, carol)
    finally:
        adding.join(timeout=10)
    member = DmMember.objects.get(channel=channel, user=carol)
    assert member.status == DmMember.Status.ACTIVE and member.muted
    assert on_whop(channel, carol).notification_preference == "none"


def test_a_message_for_named_users_unarchives_only_theirs(dm, make_user):
    from whop_sdk import PostChatMessageCreatedPayload

    from dm_bridge.services import incoming
    from tests.webhooks.conftest import message_event

    channel, alice, bob = dm
    carol = make_user("carol")
    services.add_member(channel, carol)
    services.archive(channel, bob)
    services.archive(channel, carol)
    event = message_event(
        channel_id=channel.whop_channel_id,
        author_id=alice.whop_link.whop_user_id,
        audience={"type": "users", "user_ids": [carol.whop_link.whop_user_id]},
    )
    with transaction.atomic():
        incoming.message_received(
            [channel], PostChatMessageCreatedPayload.model_validate_json(event), {alice.pk}
        )
    archived = dict(
        DmMember.objects.filter(channel=channel).values_list("user__username", "archived")
    )
    assert archived == {"alice": False, "bob": True, "carol": False}
