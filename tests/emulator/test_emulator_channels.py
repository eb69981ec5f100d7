"""DM channels: shapes, get-or-create, the 50-member cap, visibility, ordering, pagination."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from emulator_support import COMPANY, assert_error

from dm_bridge.testing import EmulatorProcess


def test_create_returns_whop_shaped_channel(api, users):
    alice, bob = users("alice", "bob")
    response = api.post(
        "/dm_channels",
        json={
            "with_user_ids": [alice["id"], bob["id"]],
            "company_id": COMPANY,
            "custom_name": "Deal",
        },
    )
    assert response.status_code == 200
    channel = response.json()
    assert set(channel) == {"id", "created_at", "last_message_at", "name"}
    assert channel["id"].startswith("feed_")
    assert re.fullmatch(r"\d{13}", channel["created_at"])  # ms since epoch, as a string
    assert abs(int(channel["created_at"]) - time.time() * 1000) < 60_000
    assert channel["last_message_at"] is None
    assert channel["name"] == "Deal"


def test_get_or_create_same_member_set_returns_same_channel(api, users):
    alice, bob, carol = users("alice", "bob", "carol")
    first = api.post("/dm_channels", json={"with_user_ids": [alice["id"], bob["id"]]}).json()
    # Same set in another order and spelled by username / email: the same channel.
    again = api.post("/dm_channels", json={"with_user_ids": ["bob", "alice@example.test"]}).json()
    assert again["id"] == first["id"]
    # account_id is the newer spelling of company_id.
    third = api.post(
        "/dm_channels", json={"with_user_ids": [bob["id"], alice["id"]], "account_id": COMPANY}
    ).json()
    assert third["id"] == first["id"]
    other = api.post("/dm_channels", json={"with_user_ids": [alice["id"], carol["id"]]}).json()
    assert other["id"] != first["id"]
    group = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob", "carol"]}).json()
    assert group["id"] not in (first["id"], other["id"])


def test_get_or_create_follows_the_current_member_set(api, users):
    alice, bob, carol = users("alice", "bob", "carol")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    api.post("/dm_members", json={"channel_id": channel["id"], "user_id": carol["id"]})
    assert (
        api.post("/dm_channels", json={"with_user_ids": ["alice", "bob", "carol"]}).json()["id"]
        == channel["id"]
    )
    fresh = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    assert fresh["id"] != channel["id"]


def test_user_token_create_includes_the_caller(api, users, client_for):
    alice, bob = users("alice", "bob")
    as_alice = client_for(alice["id"])
    created = as_alice.post("/dm_channels", json={"with_user_ids": [bob["id"]]})
    assert created.status_code == 200
    channel = created.json()
    members = api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
    assert {m["user_id"] for m in members} == {alice["id"], bob["id"]}
    assert all(m["status"] == "accepted" and m["notification_preference"] == "all" for m in members)
    # The API key asking for the same pair gets the same channel.
    same = api.post("/dm_channels", json={"with_user_ids": [alice["id"], bob["id"]]}).json()
    assert same["id"] == channel["id"]


def test_unknown_user_is_422_naming_the_value(api, users):
    users("alice")
    error = assert_error(
        api.post("/dm_channels", json={"with_user_ids": ["alice", "ghost-user"]}),
        422,
        "invalid_request",
    )
    assert "ghost-user" in error["message"]
    assert error["param"] == "with_user_ids"


def test_fifty_members_allowed_fifty_one_rejected(api, users):
    people = users(*[f"member{i:02d}" for i in range(51)])
    ids = [p["id"] for p in people]
    ok = api.post("/dm_channels", json={"with_user_ids": ids[:50]})
    assert ok.status_code == 200
    error = assert_error(
        api.post("/dm_channels", json={"with_user_ids": ids}), 422, "invalid_request"
    )
    assert "50" in error["message"]


def test_api_key_cannot_act_for_another_company(api, users):
    users("alice", "bob")
    assert_error(
        api.post(
            "/dm_channels", json={"with_user_ids": ["alice", "bob"], "company_id": "biz_other"}
        ),
        403,
        "forbidden",
    )
    assert_error(api.get("/dm_channels", params={"account_id": "biz_other"}), 403, "forbidden")


def test_retrieve_update_delete(api, users):
    users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    assert api.get(f"/dm_channels/{channel['id']}").json() == channel
    renamed = api.patch(f"/dm_channels/{channel['id']}", json={"custom_name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    api.post("/messages", json={"channel_id": channel["id"], "content": "hello"})
    deleted = api.delete(f"/dm_channels/{channel['id']}")
    assert deleted.status_code == 200 and deleted.json() is True
    assert_error(api.get(f"/dm_channels/{channel['id']}"), 404, "not_found")
    assert_error(api.get("/messages", params={"channel_id": channel["id"]}), 404, "not_found")
    assert_error(api.get("/dm_members", params={"channel_id": channel["id"]}), 404, "not_found")
    assert_error(api.delete(f"/dm_channels/{channel['id']}"), 404, "not_found")


def test_only_the_creator_token_may_manage_a_channel(api, users, client_for):
    alice, bob = users("alice", "bob")
    as_alice, as_bob = client_for(alice["id"]), client_for(bob["id"])
    mine = as_alice.post("/dm_channels", json={"with_user_ids": [bob["id"]]}).json()
    assert (
        as_alice.patch(f"/dm_channels/{mine['id']}", json={"custom_name": "x"}).status_code == 200
    )
    assert_error(
        as_bob.patch(f"/dm_channels/{mine['id']}", json={"custom_name": "y"}), 403, "forbidden"
    )
    assert_error(as_bob.delete(f"/dm_channels/{mine['id']}"), 403, "forbidden")
    assert as_alice.delete(f"/dm_channels/{mine['id']}").json() is True


def test_list_with_token_shows_only_own_channels_most_recent_first(api, users, client_for):
    alice, bob, carol = users("alice", "bob", "carol")
    ab = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    ac = api.post("/dm_channels", json={"with_user_ids": ["alice", "carol"]}).json()
    bc = api.post("/dm_channels", json={"with_user_ids": ["bob", "carol"]}).json()
    as_alice = client_for(alice["id"])
    listed = as_alice.get("/dm_channels", params={"company_id": COMPANY}).json()
    assert [c["id"] for c in listed["data"]] == [ac["id"], ab["id"]]
    # A new message moves a channel to the top.
    time.sleep(0.005)
    api.post("/messages", json={"channel_id": ab["id"], "content": "bump"})
    listed = as_alice.get("/dm_channels").json()
    assert [c["id"] for c in listed["data"]] == [ab["id"], ac["id"]]
    assert listed["data"][0]["last_message_at"] is not None
    # The API key sees every channel of the company.
    everything = api.get("/dm_channels").json()["data"]
    assert {c["id"] for c in everything} == {ab["id"], ac["id"], bc["id"]}
    # Non-members get 404 for someone else's channel (existence is not revealed).
    assert_error(as_alice.get(f"/dm_channels/{bc['id']}"), 404, "not_found")


def _walk(
    client: httpx.Client, path: str, params: dict, *, backwards: bool = False
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["before" if backwards else "after"] = cursor
        body = client.get(path, params=query).json()
        pages.append([item["id"] for item in body["data"]])
        info = body["page_info"]
        # The SDK's pager stops at end_cursor null: set exactly when a next page exists.
        assert (info["end_cursor"] is not None) == info["has_next_page"], info
        more = info["has_previous_page"] if backwards else info["has_next_page"]
        if not more:
            return pages
        cursor = info["start_cursor"] if backwards else info["end_cursor"]
        assert len(pages) < 50


def test_cursor_pagination_forwards_and_backwards(emulator, api):
    people = emulator.seed(users=[{"username": f"p{i}"} for i in range(8)])["users"]
    anchor = people[0]["id"]
    created = [
        api.post("/dm_channels", json={"with_user_ids": [anchor, p["id"]]}).json()["id"]
        for p in people[1:]
    ]
    newest_first = list(reversed(created))

    pages = _walk(api, "/dm_channels", {"first": 3})
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == newest_first

    pages = _walk(api, "/dm_channels", {"last": 3}, backwards=True)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in reversed(pages) for i in page] == newest_first

    first = api.get("/dm_channels", params={"first": 3}).json()
    assert first["page_info"]["has_previous_page"] is False
    second = api.get(
        "/dm_channels", params={"first": 3, "after": first["page_info"]["end_cursor"]}
    ).json()
    assert second["page_info"]["has_previous_page"] is True
    back = api.get(
        "/dm_channels", params={"last": 3, "before": second["page_info"]["start_cursor"]}
    ).json()
    assert [c["id"] for c in back["data"]] == [c["id"] for c in first["data"]]
    assert back["page_info"]["has_next_page"] is True
    assert back["page_info"]["has_previous_page"] is False
    # first + before: the page is cut by the cursor, so there is a next page after it.
    cut = api.get(
        "/dm_channels", params={"first": 10, "before": second["page_info"]["start_cursor"]}
    ).json()
    assert [c["id"] for c in cut["data"]] == newest_first[:3]
    assert cut["page_info"]["has_next_page"] is True and cut["page_info"]["end_cursor"]


def test_empty_list_page_info(api):
    assert api.get("/dm_channels").json() == {
        "data": [],
        "page_info": {
            "end_cursor": None,
            "start_cursor": None,
            "has_next_page": False,
            "has_previous_page": False,
        },
    }


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"first": 0}, 422),
        ({"first": 101}, 422),
        ({"last": 500}, 422),
        ({"first": "ten"}, 400),
        ({"first": 2, "last": 2}, 422),
        ({"after": "not-a-cursor!"}, 400),
        ({"after": "WyJ1c2VycyIsWzFdXQ"}, 400),  # a users cursor used on channels
    ],
)
def test_bad_page_parameters(api, params, status):
    assert_error(api.get("/dm_channels", params=params), status, "invalid_request")


def test_page_size_default_and_max(api, emulator):
    people = emulator.seed(users=[{"username": f"q{i}"} for i in range(23)])["users"]
    emulator.seed(dm_channels=[{"member_user_ids": [people[0]["id"], p["id"]]} for p in people[1:]])
    assert len(api.get("/dm_channels").json()["data"]) == 20
    assert len(api.get("/dm_channels", params={"first": 100}).json()["data"]) == 22


@pytest.fixture(scope="module")
def two_companies():
    with EmulatorProcess(api_keys={"apik_one": "biz_one", "apik_two": "biz_two"}) as process:
        yield process


def test_same_members_in_another_company_get_another_channel(two_companies, raw):
    two_companies.reset()
    a, b = two_companies.seed(users=[{"username": "a"}, {"username": "b"}])["users"]
    body = {"with_user_ids": [a["id"], b["id"]]}
    one = raw.post(
        f"{two_companies.api_url}/dm_channels",
        json=body,
        headers={"Authorization": "Bearer apik_one"},
    )
    two = raw.post(
        f"{two_companies.api_url}/dm_channels",
        json=body,
        headers={"Authorization": "Bearer apik_two"},
    )
    assert one.status_code == two.status_code == 200
    assert one.json()["id"] != two.json()["id"]
    # Each key sees only its company's channel; the other's is 404.
    other = raw.get(
        f"{two_companies.api_url}/dm_channels/{two.json()['id']}",
        headers={"Authorization": "Bearer apik_one"},
    )
    assert_error(other, 404, "not_found")
    # A token minted for company one cannot act in company two.
    token = raw.post(
        f"{two_companies.api_url}/access_tokens",
        json={"company_id": "biz_one", "user_id": a["id"]},
        headers={"Authorization": "Bearer apik_one"},
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert_error(
        raw.get(
            f"{two_companies.api_url}/dm_channels",
            params={"company_id": "biz_two"},
            headers=headers,
        ),
        403,
        "forbidden",
    )
    assert_error(
        raw.get(f"{two_companies.api_url}/dm_channels/{two.json()['id']}", headers=headers),
        404,
        "not_found",
    )
    mint_other = raw.post(
        f"{two_companies.api_url}/access_tokens",
        json={"company_id": "biz_two", "user_id": a["id"]},
        headers={"Authorization": "Bearer apik_one"},
    )
    assert_error(mint_other, 403, "forbidden")
