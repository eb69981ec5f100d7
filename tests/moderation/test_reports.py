"""Reports and the moderation queue: ``file_report`` (the entry point other code, e.g. the
contact detector, calls), the messages in context read from Whop, and every moderator action
with its audit row. Against the emulator over HTTP with dm_bridge's work run inline."""

from __future__ import annotations

import pytest
from django.db import transaction

from dm_bridge import services, signals
from dm_bridge.exceptions import InvalidDmRequest
from dm_bridge.models import Block, DmChannel, DmMember, ModerationAction, Report
from dm_bridge.services import moderation
from marketplace import services as marketplace

pytestmark = pytest.mark.django_db(transaction=True)


def test_file_report_is_idempotent_per_channel_message_source_and_reporter(
    whop, open_conversation, buyer, make_user
):
    channel = open_conversation(buyer).channel
    sent = []

    def receiver(**kw):
        sent.append(kw["created"])

    signals.dm_report_filed.connect(receiver)
    try:
        first = services.file_report(
            channel, category="scam", note="wants a wire", reporter=buyer, whop_message_id="msg_1"
        )
        again = services.file_report(
            channel, category="spam", reporter=buyer, whop_message_id="msg_1"
        )
        detector = services.file_report(
            channel, category="off_platform", whop_message_id="msg_1", source="detector"
        )
        detector_again = services.file_report(
            channel, category="off_platform", whop_message_id="msg_1", source="detector"
        )
        whole = services.file_report(channel, category="harassment", reporter=buyer)
    finally:
        signals.dm_report_filed.disconnect(receiver)
    assert first.pk == again.pk and again.category == "scam"  # the first report stands
    assert detector.pk == detector_again.pk != first.pk
    assert detector.reporter is None and detector.source == Report.Source.DETECTOR
    assert whole.pk not in (first.pk, detector.pk) and whole.whop_message_id == ""
    assert Report.objects.count() == 3
    assert sent == [True, False, True, False, True]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"category": "rude"}, "Unknown report category"),
        ({"category": "spam", "source": "robot"}, "Unknown report source"),
        ({"category": "spam", "whop_message_id": "msg 1; drop"}, "not a Whop message ID"),
        ({"category": "spam", "note": "x" * 2001}, "at most 2000"),
    ],
)
def test_file_report_refuses_bad_input_and_writes_nothing(
    whop, open_conversation, buyer, kwargs, error
):
    channel = open_conversation(buyer).channel
    with pytest.raises(InvalidDmRequest, match=error):
        services.file_report(channel, reporter=buyer, **kwargs)
    assert not Report.objects.exists()


def test_context_shows_the_reported_message_with_its_neighbours_from_whop(
    whop, settings, open_conversation, buyer, shop, post_as
):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "MODERATION_CONTEXT_MESSAGES": 2}
    channel = open_conversation(buyer).channel
    ids = [post_as(buyer if n % 2 else shop.owner, channel, f"message {n}") for n in range(8)]
    report = services.file_report(channel, category="scam", reporter=buyer, whop_message_id=ids[4])
    shown, note = moderation.context_messages(report)
    assert note == ""
    assert [m.content for m in shown] == [f"message {n}" for n in (2, 3, 4, 5, 6)]
    assert [m.reported for m in shown] == [False, False, True, False, False]
    assert shown[2].author  # the author's name on Whop

    missing = services.file_report(
        channel, category="scam", reporter=buyer, whop_message_id="msg_gone"
    )
    shown, note = moderation.context_messages(missing)
    assert "not among the latest" in note and [m.content for m in shown][-1] == "message 7"


def test_warn_posts_the_reminder_in_the_dm_and_logs_the_reason(
    whop, open_conversation, buyer, make_user
):
    admin = make_user("mod", is_staff=True)
    channel = open_conversation(buyer).channel
    report = services.file_report(channel, category="off_platform", reporter=buyer)
    action = services.act_on_report(report, "warn", moderator=admin, reason="asked for PayPal")
    posted = [r["body"]["content"] for r in whop.requests("messages.create")]
    assert posted[-1].startswith("A note from this site's moderators")
    report.refresh_from_db()
    assert report.status == Report.Status.ACTIONED and report.resolved_by == admin
    assert (action.kind, action.reason, action.actor, action.report) == (
        "warn",
        "asked for PayPal",
        admin,
        report,
    )


def test_an_action_needs_a_reason_and_the_right_user(whop, open_conversation, buyer, make_user):
    admin, stranger = make_user("mod", is_staff=True), make_user("stranger")
    report = services.file_report(open_conversation(buyer).channel, category="spam", reporter=buyer)
    with pytest.raises(InvalidDmRequest, match="reason"):
        services.act_on_report(report, "dismiss", moderator=admin, reason="  ")
    with pytest.raises(InvalidDmRequest, match="Choose the user"):
        services.act_on_report(report, "remove_member", moderator=admin, reason="r")
    with pytest.raises(InvalidDmRequest, match="not a member"):
        services.act_on_report(report, "remove_member", moderator=admin, reason="r", user=stranger)
    report.refresh_from_db()
    assert report.status == Report.Status.OPEN and not ModerationAction.objects.exists()


def test_remove_member_and_delete_channel_act_on_whop(
    whop, open_conversation, buyer, shop, make_user, whop_members, whop_ids
):
    admin = make_user("mod", is_staff=True)
    channel = open_conversation(buyer).channel
    report = services.file_report(channel, category="harassment", reporter=buyer)
    services.act_on_report(
        report, "remove_member", moderator=admin, reason="abusive", user=shop.staff.get()
    )
    assert whop_members(channel) == whop_ids(buyer, shop.identity, shop.owner)
    services.act_on_report(report, "delete_channel", moderator=admin, reason="scam ring")
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.DELETED and channel.deleted_on_whop
    kinds = list(ModerationAction.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["remove_member", "delete_channel"]


def test_a_site_wide_block_takes_the_user_out_of_all_their_dms_and_keeps_them_out(
    whop, open_conversation, buyer, listing, make_user, whop_members, whop_ids
):
    admin = make_user("mod", is_staff=True)
    other_shop_owner = make_user("dana")
    from marketplace.models import Listing, Shop

    darkroom = Shop.objects.create(name="Dana's Darkroom", owner=other_shop_owner)
    camera = Listing.objects.create(shop=darkroom, title="Camera", price=1)
    first = open_conversation(buyer)
    second = marketplace.message_seller(buyer, camera, "http://testserver/c/")
    report = services.file_report(first.channel, category="scam", reporter=listing.shop.owner)
    services.act_on_report(report, "block_site_wide", moderator=admin, reason="fraud", user=buyer)
    for conversation in (first, second):
        assert not whop_ids(buyer) & whop_members(conversation.channel)
    with pytest.raises(marketplace.MarketplaceError, match="can't message Bob's Bikes right now"):
        open_conversation(buyer)
    block = Block.objects.get()
    assert block.site_wide and block.blocked == buyer
    assert ModerationAction.objects.get().kind == "block_site_wide"

    assert services.lift_site_block(buyer, moderator=admin, reason="appeal accepted")
    for conversation in (first, second):
        assert whop_ids(buyer) <= whop_members(conversation.channel)
    assert DmMember.objects.filter(user=buyer, status=DmMember.Status.ACTIVE).count() == 2


def test_report_signals_and_audit_rows_only_after_commit(whop, open_conversation, buyer):
    channel = open_conversation(buyer).channel
    seen = []

    def receiver(**kw):
        seen.append(kw["report"].pk)

    signals.dm_report_filed.connect(receiver)
    try:
        with transaction.atomic():
            report = services.file_report(channel, category="spam", reporter=buyer)
            assert seen == []
        assert seen == [report.pk]
    finally:
        signals.dm_report_filed.disconnect(receiver)
