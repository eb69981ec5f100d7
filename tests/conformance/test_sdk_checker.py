"""The conformance checker itself must be able to fail, or the suite proves nothing."""

from __future__ import annotations

import copy

import pytest
from sdk_conformance import missing_required, model_for
from whop_sdk.dm_channels.types import ListDmChannelsResponse
from whop_sdk.types import Account, DmChannel, Message, User

USER = {
    "id": "user_1",
    "username": "u",
    "created_at": "2026-01-01T00:00:00.000Z",
    "profile_picture": {"url": "https://x.test/a.png"},
    "balances": [],
    "social_links": [],
    "verification": {},
}


def test_a_complete_user_passes():
    assert missing_required(User, USER) == []


@pytest.mark.parametrize("field", sorted(USER))
def test_each_missing_user_field_is_reported(field):
    broken = {k: v for k, v in USER.items() if k != field}
    assert missing_required(User, broken) == [f"$.{field}"]


def test_nested_and_null_fields_are_reported():
    broken = copy.deepcopy(USER)
    broken["profile_picture"] = {}
    broken["username"] = None
    assert missing_required(User, broken) == ["$.profile_picture.url", "$.username (null)"]
    # The old emulator's answer: profile_picture null.
    assert missing_required(User, {**USER, "profile_picture": None}) == ["$.profile_picture (null)"]


def test_list_items_and_account_owner_are_walked():
    page = {"data": [{"id": "feed_1"}], "page_info": {"has_next_page": False}}
    assert missing_required(ListDmChannelsResponse, page) == [
        "$.data[0].created_at",
        "$.page_info.has_previous_page",
    ]
    problems = missing_required(Account, {"owner": {"id": "user_1", "username": "u"}})
    assert "$.owner.profile_picture" in problems and "$.route" in problems


def test_optional_fields_may_be_null():
    message = {
        "id": "post_1",
        "content": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "is_edited": False,
        "is_pinned": False,
        "mentions": [],
        "mentions_everyone": False,
        "message_type": "regular",
        "poll": None,
        "poll_votes": [],
        "reaction_counts": [],
        "replying_to_message_id": None,
        "user": {"id": "user_1", "name": None, "username": "u"},
    }
    assert missing_required(Message, message) == []
    assert missing_required(Message, {**message, "message_type": None}) == ["$.message_type (null)"]


def test_every_dm_endpoint_has_a_model():
    assert model_for("GET", "/dm_channels/feed_1") is DmChannel
    assert model_for("GET", "/users/me") is User
    assert model_for("DELETE", "/reactions/reac_1") is bool
    assert model_for("GET", "/nowhere") is None
