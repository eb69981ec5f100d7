"""``dm_bridge.db.insert_from_select`` on the suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import F, Value
from django.utils import timezone

from dm_bridge.db import insert_from_select
from dm_bridge.models import DmChannel, DmMember, UnreadMessage

pytestmark = pytest.mark.django_db


def test_inserts_one_row_per_selected_row_and_skips_conflicts(make_user: Any) -> None:
    channel = DmChannel.objects.create(company_id="biz_x", key="k", status="active")
    members = [DmMember.objects.create(channel=channel, user=make_user(f"u{i}")) for i in range(3)]
    at = timezone.now()
    values = {
        "member": F("pk"),
        "whop_message_id": Value("post_1"),
        "author_name": Value("O'Brien; DROP TABLE x"),  # a value, never SQL text
        "by_member": Value(True),
        "preview": Value(""),
        "sent_at": Value(at),
        "received_at": Value(at),
    }
    rows = DmMember.objects.filter(pk__in=[m.pk for m in members[:2]])
    assert insert_from_select(UnreadMessage, values, rows) == 2
    # The unique (member, message) constraint: the two again add nothing, the third is new.
    assert insert_from_select(UnreadMessage, values, DmMember.objects.all()) == 1
    stored = UnreadMessage.objects.order_by("member_id")
    assert [u.member_id for u in stored] == [m.pk for m in members]
    assert {(u.author_name, u.by_member, u.sent_at) for u in stored} == {
        ("O'Brien; DROP TABLE x", True, at)
    }


def test_refuses_a_field_that_is_not_a_column() -> None:
    with pytest.raises(ValueError, match="only concrete fields"):
        # A reverse relation has no column of its own.
        insert_from_select(DmMember, {"unread_messages": F("pk")}, DmMember.objects.all())
