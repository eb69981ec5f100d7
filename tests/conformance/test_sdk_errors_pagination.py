"""Error classes the SDK raises for the emulator's answers, and its pager over several pages."""

from __future__ import annotations

from sdk_conformance import raises
from whop_sdk.errors import (
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    UnprocessableEntityError,
)


def test_error_classes(sdk, sdk_as, user_sdk, people, emulator):
    with raises(UnauthorizedError) as unauthorized:
        sdk_as("apik_wrong").dm_channels.list().items  # noqa: B018 - the call is the point
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.body["error"]["type"] == "unauthorized"

    reader = user_sdk(people["alice"]["id"], ["dms:read"])
    with raises(ForbiddenError) as forbidden:
        reader.messages.create(channel_id="feed_x", content="x")
    assert forbidden.value.status_code == 403
    assert "dms:message:manage" in forbidden.value.body["error"]["message"]

    with raises(NotFoundError) as missing:
        sdk.dm_channels.retrieve("feed_nope")
    assert missing.value.status_code == 404
    assert missing.value.body["error"]["type"] == "not_found"

    with raises(UnprocessableEntityError) as invalid:
        sdk.dm_channels.create(with_user_ids=["nobody-at-all"])
    assert invalid.value.status_code == 422
    assert invalid.value.body["error"]["param"] == "with_user_ids"

    channel = sdk.dm_channels.create(with_user_ids=[people["alice"]["id"], "bob"])
    emulator.set_rate_limit(1, "dm_members.list")
    sdk.dm_members.list(channel_id=channel.id)
    with raises(TooManyRequestsError) as limited:
        sdk.dm_members.list(channel_id=channel.id)
    assert limited.value.status_code == 429
    assert limited.value.body["error"]["type"] == "rate_limit_exceeded"
    seconds = int(limited.value.headers["retry-after"])
    assert f"Try again in {seconds} seconds." == limited.value.body["error"]["message"]


def test_pager_walks_every_page_and_stops(sdk, emulator):
    users = emulator.seed(users=[{"username": f"p{i}"} for i in range(6)])["users"]
    created = [
        sdk.dm_channels.create(with_user_ids=[users[0]["id"], u["id"]]).id for u in users[1:]
    ]
    emulator.control.delete("/requests")
    pager = sdk.dm_channels.list(first=2)
    assert [c.id for c in pager] == list(reversed(created))  # 5 items over 3 pages
    pages = emulator.requests("dm_channels.list")
    assert len(pages) == 3  # stopped on end_cursor null, no extra empty request
    assert [p["query"].get("after") is None for p in pages] == [True, False, False]
    last_page = list(sdk.dm_channels.list(first=2).iter_pages())[-1]
    info = last_page.response.page_info
    assert info.end_cursor is None and info.has_next_page is False
    assert info.has_previous_page is True


def test_last_and_before_go_backwards(sdk, emulator):
    users = emulator.seed(users=[{"username": f"q{i}"} for i in range(8)])["users"]
    channel = sdk.dm_channels.create(with_user_ids=[u["id"] for u in users[:2]])
    ids = [sdk.messages.create(channel_id=channel.id, content=f"m{i}").id for i in range(7)]
    newest = sdk.messages.list(channel_id=channel.id, direction="asc", last=3)
    assert [m.id for m in newest.items or []] == ids[4:]
    info = newest.response.page_info
    assert info.has_previous_page is True and info.has_next_page is False
    assert info.end_cursor is None  # nothing after the newest page: the SDK pager stops
    seen = [ids[4:]]
    cursor = info.start_cursor
    while cursor:
        page = sdk.messages.list(channel_id=channel.id, direction="asc", last=3, before=cursor)
        seen.insert(0, [m.id for m in page.items or []])
        assert page.response.page_info.has_next_page is True
        cursor = (
            page.response.page_info.start_cursor
            if page.response.page_info.has_previous_page
            else None
        )
    assert seen == [ids[0:1], ids[1:4], ids[4:7]]
    empty = sdk.messages.list(channel_id=sdk.dm_channels.create(with_user_ids=[users[5]["id"]]).id)
    assert empty.items == [] and empty.response.page_info.end_cursor is None
