"""WhopClient against the local Whop emulator over real HTTP (docs: /work/shared/whop-api.md).

Every endpoint the client wraps, pagination both ways, access rules for user tokens, and each
failure class produced by a real socket: error statuses, rate limits, injected faults, a hung
response, a commit-then-error, and a closed port.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID, free_port
from dm_bridge.whop import (
    AccessToken,
    Company,
    DmChannel,
    DmMember,
    Message,
    Page,
    User,
    WhopAuthenticationError,
    WhopBadRequestError,
    WhopClient,
    WhopConnectionError,
    WhopNotFoundError,
    WhopPermissionError,
    WhopRateLimitError,
    WhopServerError,
    WhopTimeoutError,
    WhopValidationError,
)

pytestmark = pytest.mark.timeout(120)

ALL_DM_SCOPES = ["dms:read", "dms:message:manage", "dms:channel:manage"]
COMPANY = DEFAULT_COMPANY_ID


@pytest.fixture
def api(emulator):
    with WhopClient(DEFAULT_API_KEY, base_url=emulator.api_url) as client:
        yield client


@pytest.fixture
def seed_users(emulator):
    def seed(count: int, prefix: str = "member") -> list[str]:
        users = [
            {
                "username": f"{prefix}{i}",
                "name": f"{prefix.title()} {i}",
                "email": f"{prefix}{i}@example.test",
            }
            for i in range(count)
        ]
        return [user["id"] for user in emulator.seed(users=users)["users"]]

    return seed


@pytest.fixture
def as_user(api, emulator):
    """A WhopClient authenticated with a fresh user access token."""
    clients: list[WhopClient] = []

    def make(user_id: str, scopes: list[str] = ALL_DM_SCOPES) -> WhopClient:
        token = api.create_access_token(user_id=user_id, company_id=COMPANY, scoped_actions=scopes)
        client = WhopClient(token.token, base_url=emulator.api_url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def is_ms_string(value: object) -> bool:
    return isinstance(value, str) and value.isdigit()


# --- DM channels -------------------------------------------------------------------------------
def test_dm_channel_lifecycle(api, seed_users):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY, custom_name="Deal #1")
    assert isinstance(channel, DmChannel)
    assert channel.id.startswith("feed_")
    assert is_ms_string(channel.raw.get("created_at")), channel.raw
    assert channel.created_at is not None and abs(
        channel.created_at - datetime.now(UTC)
    ) < timedelta(minutes=5)
    assert channel.name == "Deal #1"

    assert api.retrieve_dm_channel(channel.id) == channel

    renamed = api.update_dm_channel(channel.id, custom_name="Deal #1 (closed)")
    assert renamed.id == channel.id and renamed.name == "Deal #1 (closed)"
    assert api.retrieve_dm_channel(channel.id).name == "Deal #1 (closed)"

    listed = api.list_dm_channels(company_id=COMPANY)
    assert isinstance(listed, Page)
    assert channel.id in [c.id for c in listed.data]

    assert api.delete_dm_channel(channel.id) is None
    with pytest.raises(WhopNotFoundError) as info:
        api.retrieve_dm_channel(channel.id)
    assert info.value.status == 404 and not info.value.retryable


def test_create_dm_channel_is_get_or_create(api, seed_users):
    alice, bob, carol = seed_users(3)
    first = api.create_dm_channel([alice, bob], company_id=COMPANY)
    again = api.create_dm_channel([alice, bob], company_id=COMPANY)
    reordered = api.create_dm_channel([bob, alice], company_id=COMPANY)
    assert again.id == first.id == reordered.id
    other = api.create_dm_channel([alice, carol], company_id=COMPANY)
    assert other.id != first.id


def test_create_dm_channel_accepts_usernames(api, seed_users):
    alice, bob = seed_users(2, prefix="named")
    by_id = api.create_dm_channel([alice, bob], company_id=COMPANY)
    by_name = api.create_dm_channel(["named0", "named1"], company_id=COMPANY)
    assert by_name.id == by_id.id


def test_user_token_lists_only_own_channels(api, seed_users, as_user):
    alice, bob, carol = seed_users(3)
    ab = api.create_dm_channel([alice, bob], company_id=COMPANY)
    bc = api.create_dm_channel([bob, carol], company_id=COMPANY)
    alice_ids = {c.id for c in as_user(alice).iter_dm_channels(company_id=COMPANY)}
    assert ab.id in alice_ids and bc.id not in alice_ids


# --- DM members --------------------------------------------------------------------------------
def test_dm_member_lifecycle(api, seed_users):
    alice, bob, carol = seed_users(3)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)

    members = api.list_dm_members(channel.id)
    assert {m.user_id for m in members.data} == {alice, bob}
    assert all(m.channel_id == channel.id for m in members.data)
    assert all(m.status == "accepted" for m in members.data)
    assert all(
        m.raw.get("last_viewed_at") is None or is_ms_string(m.raw["last_viewed_at"])
        for m in members.data
    )

    added = api.create_dm_member(channel.id, carol)
    assert isinstance(added, DmMember)
    assert (added.channel_id, added.user_id) == (channel.id, carol)
    assert api.retrieve_dm_member(added.id) == added

    updated = api.update_dm_member(added.id, notification_preference="mentions")
    assert updated.notification_preference == "mentions"
    assert api.update_dm_member(added.id, status="hidden").status == "hidden"
    assert api.retrieve_dm_member(added.id).notification_preference == "mentions"

    assert api.delete_dm_member(added.id) is None
    assert {m.user_id for m in api.iter_dm_members(channel.id)} == {alice, bob}
    with pytest.raises(WhopNotFoundError):
        api.retrieve_dm_member(added.id)


def test_fifty_member_cap(api, seed_users):
    users = seed_users(51)
    channel = api.create_dm_channel(users[:50], company_id=COMPANY)
    assert len(list(api.iter_dm_members(channel.id, page_size=100))) == 50
    with pytest.raises(WhopValidationError) as info:
        api.create_dm_member(channel.id, users[50])
    exc = info.value
    assert exc.status == 422 and exc.error_type == "invalid_request"
    assert not exc.retryable and not exc.ambiguous
    assert isinstance(exc, ValueError)
    assert exc.message


def test_create_channel_over_cap_is_rejected(api, seed_users):
    users = seed_users(51)
    with pytest.raises(WhopValidationError):
        api.create_dm_channel(users, company_id=COMPANY)


def test_add_member_unknown_user_or_channel(api, seed_users):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    with pytest.raises(WhopValidationError):
        api.create_dm_member(channel.id, "user_doesnotexist")
    with pytest.raises(WhopNotFoundError):
        api.create_dm_member("feed_doesnotexist", alice)


# --- messages ----------------------------------------------------------------------------------
def test_message_lifecycle(api, seed_users, as_user):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    as_alice, as_bob = as_user(alice), as_user(bob)

    first = as_alice.create_message(channel.id, "Hello **Bob**")
    assert isinstance(first, Message)
    assert first.content == "Hello **Bob**"
    assert first.user is not None and first.user.id == alice
    assert first.created_at is not None
    assert first.message_type == "regular"
    assert not first.is_edited and not first.is_pinned

    reply = as_bob.create_message(channel.id, "Hi!", replying_to_message_id=first.id)
    assert reply.replying_to_message_id == first.id
    assert reply.user is not None and reply.user.id == bob

    assert as_bob.retrieve_message(first.id).content == "Hello **Bob**"

    edited = as_alice.update_message(first.id, content="Hello Bob")
    assert edited.content == "Hello Bob" and edited.is_edited
    pinned = as_alice.update_message(first.id, is_pinned=True)
    assert pinned.is_pinned and pinned.content == "Hello Bob"

    assert api.retrieve_dm_channel(channel.id).last_message_at is not None

    asc = as_alice.list_messages(channel.id, direction="asc")
    assert [m.id for m in asc.data] == [first.id, reply.id]
    desc = as_alice.list_messages(channel.id, direction="desc")
    assert [m.id for m in desc.data] == [reply.id, first.id]

    assert as_bob.delete_message(reply.id) is None
    with pytest.raises(WhopNotFoundError):
        as_alice.retrieve_message(reply.id)
    assert [m.id for m in as_alice.iter_messages(channel.id)] == [first.id]


def test_non_member_cannot_see_channel(api, seed_users, as_user):
    alice, bob, mallory = seed_users(3)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    as_alice = as_user(alice)
    message = as_alice.create_message(channel.id, "secret")
    as_mallory = as_user(mallory)
    with pytest.raises(WhopNotFoundError):
        as_mallory.retrieve_dm_channel(channel.id)
    with pytest.raises(WhopNotFoundError):
        as_mallory.list_messages(channel.id)
    with pytest.raises(WhopNotFoundError):
        as_mallory.retrieve_message(message.id)
    with pytest.raises(WhopNotFoundError):
        as_mallory.create_message(channel.id, "let me in")


def test_removed_member_loses_access(api, seed_users, as_user):
    alice, bob, carol = seed_users(3)
    channel = api.create_dm_channel([alice, bob, carol], company_id=COMPANY)
    as_carol = as_user(carol)
    as_user(alice).create_message(channel.id, "welcome")
    assert len(as_carol.list_messages(channel.id).data) == 1

    member = next(m for m in api.iter_dm_members(channel.id) if m.user_id == carol)
    api.delete_dm_member(member.id)

    with pytest.raises(WhopNotFoundError):
        as_carol.list_messages(channel.id)
    with pytest.raises(WhopNotFoundError):
        as_carol.create_message(channel.id, "still here?")


def test_token_without_message_scope_cannot_post(api, seed_users, as_user):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    read_only = as_user(alice, scopes=["dms:read"])
    assert read_only.list_messages(channel.id).data == []
    with pytest.raises(WhopPermissionError) as info:
        read_only.create_message(channel.id, "hello")
    assert info.value.status == 403 and not info.value.retryable
    assert isinstance(info.value, PermissionError)


def test_token_without_channel_scope_cannot_create_channels(seed_users, as_user):
    alice, bob = seed_users(2)
    no_manage = as_user(alice, scopes=["dms:read", "dms:message:manage"])
    with pytest.raises(WhopPermissionError):
        no_manage.create_dm_channel([bob], company_id=COMPANY)


# --- users -------------------------------------------------------------------------------------
def test_users(api, emulator):
    seeded = emulator.seed(
        users=[
            {"username": "alicesmith", "name": "Alice Smith", "email": "alice@example.test"},
            {"username": "bobjones", "name": "Bob Jones", "email": "bob@example.test"},
        ]
    )["users"]
    alice_id = seeded[0]["id"]
    assert alice_id.startswith("user_")

    alice = api.retrieve_user(alice_id)
    assert isinstance(alice, User)
    assert (alice.id, alice.username, alice.name) == (alice_id, "alicesmith", "Alice Smith")

    found = api.list_users(query="alice")
    assert [u.id for u in found.data] == [alice_id]

    updated = api.update_user(alice_id, company_id=COMPANY, name="Alice (Seller)")
    assert updated.name == "Alice (Seller)"
    assert api.retrieve_user(alice_id, company_id=COMPANY).name == "Alice (Seller)"
    assert api.retrieve_user(alice_id).name == "Alice Smith"  # the override is per company

    with pytest.raises(WhopNotFoundError):
        api.retrieve_user("user_doesnotexist")


# --- companies (connected accounts) and tokens -------------------------------------------------
def test_connected_account_gives_a_whop_user(api):
    company = api.create_company(
        email="dana@example.test",
        parent_company_id=COMPANY,
        title="Dana",
        metadata={"internal_user_id": "42"},
    )
    assert isinstance(company, Company)
    assert company.id.startswith("biz_")
    assert company.parent_company_id == COMPANY
    assert company.metadata == {"internal_user_id": "42"}
    assert company.owner_user is not None and company.owner_user.id.startswith("user_")

    assert api.retrieve_company(company.id).owner_user == company.owner_user
    assert company.id in [c.id for c in api.list_companies(parent_company_id=COMPANY).data]
    assert api.retrieve_user(company.owner_user.id).id == company.owner_user.id

    other = api.create_company(email="eve@example.test", parent_company_id=COMPANY, title="Eve")
    channel = api.create_dm_channel(
        [company.owner_user.id, other.owner_user.id], company_id=COMPANY
    )
    assert channel.id.startswith("feed_")


def test_access_token(api, seed_users):
    (alice,) = seed_users(1)
    token = api.create_access_token(user_id=alice, company_id=COMPANY, scoped_actions=["dms:read"])
    assert isinstance(token, AccessToken)
    assert token.token and token.token not in repr(token)
    assert token.expires_at is not None
    assert (
        timedelta(minutes=55)
        < token.expires_at - datetime.now(UTC)
        <= timedelta(hours=1, minutes=1)
    )

    wanted = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    short = api.create_access_token(
        user_id=alice, company_id=COMPANY, scoped_actions=["dms:read"], expires_at=wanted
    )
    assert short.expires_at is not None and abs(short.expires_at - wanted) < timedelta(seconds=2)


# --- pagination --------------------------------------------------------------------------------
def test_message_pagination_both_ways(api, seed_users, as_user):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    as_alice = as_user(alice)
    sent = [as_alice.create_message(channel.id, f"m{i}").id for i in range(7)]

    assert [m.id for m in as_alice.iter_messages(channel.id, direction="asc", page_size=3)] == sent
    assert [
        m.id for m in as_alice.iter_messages(channel.id, direction="desc", page_size=3)
    ] == sent[::-1]

    # forward with explicit cursors
    p1 = as_alice.list_messages(channel.id, direction="asc", first=3)
    p2 = as_alice.list_messages(channel.id, direction="asc", first=3, after=p1.page_info.end_cursor)
    p3 = as_alice.list_messages(channel.id, direction="asc", first=3, after=p2.page_info.end_cursor)
    assert [len(p.data) for p in (p1, p2, p3)] == [3, 3, 1]
    assert (
        p1.page_info.has_next_page and p2.page_info.has_next_page and not p3.page_info.has_next_page
    )
    assert [m.id for p in (p1, p2, p3) for m in p.data] == sent

    # backward with explicit cursors
    b1 = as_alice.list_messages(channel.id, direction="asc", last=3)
    b2 = as_alice.list_messages(
        channel.id, direction="asc", last=3, before=b1.page_info.start_cursor
    )
    b3 = as_alice.list_messages(
        channel.id, direction="asc", last=3, before=b2.page_info.start_cursor
    )
    assert [len(p.data) for p in (b1, b2, b3)] == [3, 3, 1]
    assert b1.page_info.has_previous_page and b2.page_info.has_previous_page
    assert not b3.page_info.has_previous_page
    assert [m.id for p in (b3, b2, b1) for m in p.data] == sent


def test_channel_member_user_company_pagination(api, seed_users):
    users = seed_users(8)
    channels = {
        api.create_dm_channel([users[0], other], company_id=COMPANY).id for other in users[1:]
    }
    assert len(channels) == 7
    walked = [c.id for c in api.iter_dm_channels(company_id=COMPANY, page_size=3)]
    assert len(walked) == len(set(walked)) and set(walked) == channels

    first = api.list_dm_channels(company_id=COMPANY, first=3)
    second = api.list_dm_channels(company_id=COMPANY, first=3, after=first.page_info.end_cursor)
    assert first.page_info.has_next_page and not {c.id for c in first.data} & {
        c.id for c in second.data
    }

    group = api.create_dm_channel(users[:7], company_id=COMPANY)
    members = [m.user_id for m in api.iter_dm_members(group.id, page_size=3)]
    assert sorted(members) == sorted(users[:7])
    m1 = api.list_dm_members(group.id, first=3)
    m_last = api.list_dm_members(group.id, last=3)
    assert m1.page_info.has_next_page and m_last.page_info.has_previous_page
    assert len(m1.data) == len(m_last.data) == 3

    walked_users = [u.id for u in api.iter_users(page_size=3)]
    assert set(users) <= set(walked_users) and len(walked_users) == len(set(walked_users))
    assert [u.id for u in api.iter_users(query="member3", page_size=3)] == [users[3]]

    companies = {
        api.create_company(email=f"c{i}@example.test", parent_company_id=COMPANY, title=f"C{i}").id
        for i in range(7)
    }
    walked_companies = [c.id for c in api.iter_companies(parent_company_id=COMPANY, page_size=3)]
    assert set(walked_companies) == companies and len(walked_companies) == 7
    c_last = api.list_companies(parent_company_id=COMPANY, last=3)
    c_prev = api.list_companies(
        parent_company_id=COMPANY, last=3, before=c_last.page_info.start_cursor
    )
    assert c_last.page_info.has_previous_page
    assert not {c.id for c in c_last.data} & {c.id for c in c_prev.data}


# --- errors ------------------------------------------------------------------------------------
def test_bad_key_is_401(emulator):
    with (
        WhopClient("apik_not_a_real_key", base_url=emulator.api_url) as bad,
        pytest.raises(WhopAuthenticationError) as info,
    ):
        bad.list_dm_channels()
    assert info.value.status == 401 and not info.value.retryable and not info.value.ambiguous
    assert "apik_not_a_real_key" not in str(info.value)


def test_garbage_user_token_is_401(emulator):
    with (
        WhopClient("eyJhbGciOiJIUzI1NiJ9.e30.bad-signature", base_url=emulator.api_url) as bad,
        pytest.raises(WhopAuthenticationError),
    ):
        bad.list_dm_channels()


@pytest.mark.parametrize("version", ["2999-01-01", "not-a-date", "2026-02-30"])
def test_unknown_api_version_is_400(emulator, version):
    with (
        WhopClient(DEFAULT_API_KEY, base_url=emulator.api_url, api_version=version) as old,
        pytest.raises(WhopBadRequestError) as info,
    ):
        old.list_dm_channels()
    assert info.value.status == 400 and not info.value.retryable


def test_unknown_ids_are_404(api):
    for call in (
        api.retrieve_dm_channel,
        api.retrieve_dm_member,
        api.retrieve_message,
        api.retrieve_company,
    ):
        with pytest.raises(WhopNotFoundError) as info:
            call("x_doesnotexist")
        assert isinstance(info.value, LookupError)


def test_rate_limit(api, emulator, seed_users, as_user):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    emulator.set_rate_limit(2, operation="dm_channels.retrieve")
    api.retrieve_dm_channel(channel.id)
    api.retrieve_dm_channel(channel.id)
    with pytest.raises(WhopRateLimitError) as info:
        api.retrieve_dm_channel(channel.id)
    exc = info.value
    assert exc.status == 429 and exc.error_type == "rate_limit_exceeded"
    assert exc.retryable and not exc.ambiguous
    assert exc.retry_after is not None and 0 < exc.retry_after <= 60
    assert "try again in" in exc.message.lower()

    assert api.list_dm_channels().data  # per operation: other operations unaffected
    assert as_user(alice).retrieve_dm_channel(channel.id).id == channel.id  # per credential


def test_injected_503_is_retryable_and_ambiguous(api, emulator, seed_users):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    emulator.add_fault("dm_channels.retrieve", status=503, times=1)
    with pytest.raises(WhopServerError) as info:
        api.retrieve_dm_channel(channel.id)
    exc = info.value
    assert exc.status == 503 and exc.retryable and exc.ambiguous
    assert exc.operation == "GET /dm_channels/{channel_id}"
    assert api.retrieve_dm_channel(channel.id).id == channel.id  # times=1: the fault is spent


def test_hung_response_times_out_ambiguously(emulator, seed_users):
    alice, bob = seed_users(2)
    with WhopClient(DEFAULT_API_KEY, base_url=emulator.api_url, timeout=1.0) as impatient:
        channel = impatient.create_dm_channel([alice, bob], company_id=COMPANY)
        emulator.add_fault("dm_channels.retrieve", mode="hang", times=1)
        started = time.monotonic()
        with pytest.raises(WhopTimeoutError) as info:
            impatient.retrieve_dm_channel(channel.id)
        assert time.monotonic() - started < 5
    exc = info.value
    assert exc.ambiguous and exc.retryable and exc.status is None
    assert isinstance(exc, TimeoutError)
    with WhopClient(DEFAULT_API_KEY, base_url=emulator.api_url) as client:
        assert client.retrieve_dm_channel(channel.id).id == channel.id  # the emulator still serves


def test_commit_then_error_then_get_or_create(api, emulator, seed_users):
    alice, bob = seed_users(2)
    emulator.add_fault("dm_channels.create", mode="commit_then_error", times=1)
    with pytest.raises(WhopServerError) as info:
        api.create_dm_channel([alice, bob], company_id=COMPANY)
    assert info.value.ambiguous and info.value.retryable

    existing = [c.id for c in api.iter_dm_channels(company_id=COMPANY)]
    assert len(existing) == 1  # the side effect did happen
    again = api.create_dm_channel([alice, bob], company_id=COMPANY)
    assert again.id == existing[0]
    assert [c.id for c in api.iter_dm_channels(company_id=COMPANY)] == existing  # no duplicate


def test_closed_port_is_an_unambiguous_connection_error():
    with (
        WhopClient(DEFAULT_API_KEY, base_url=f"http://127.0.0.1:{free_port()}/api/v1") as nowhere,
        pytest.raises(WhopConnectionError) as info,
    ):
        nowhere.list_dm_channels()
    exc = info.value
    assert exc.retryable and not exc.ambiguous and exc.status is None
    assert exc.operation == "GET /dm_channels"


def test_no_key_in_logs_or_request_log(api, emulator, seed_users, caplog):
    caplog.set_level(logging.DEBUG)
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY)
    api.retrieve_dm_channel(channel.id)
    with pytest.raises(WhopNotFoundError):
        api.retrieve_dm_channel("feed_doesnotexist")
    assert "whop POST /dm_channels -> 200 in " in caplog.text
    assert DEFAULT_API_KEY not in caplog.text
    assert DEFAULT_API_KEY not in json.dumps(emulator.requests())
    (created,) = emulator.requests(operation="dm_channels.create")
    assert created["body"] == {"with_user_ids": [alice, bob], "account_id": COMPANY}


def test_wire_format_seen_by_emulator(api, emulator, seed_users):
    alice, bob = seed_users(2)
    channel = api.create_dm_channel([alice, bob], company_id=COMPANY, notifications_enabled=True)
    api.list_dm_channels(company_id=COMPANY, first=5)
    api.update_user(alice, company_id=COMPANY, bio="Hi")
    api.create_access_token(user_id=alice, company_id=COMPANY, scoped_actions=["dms:read"])
    api.delete_dm_channel(channel.id)
    (create,) = emulator.requests(operation="dm_channels.create")
    assert create["body"] == {
        "with_user_ids": [alice, bob],
        "account_id": COMPANY,
        "notifications_enabled": True,
    }
    (listing,) = emulator.requests(operation="dm_channels.list")
    assert listing["query"] == {"account_id": COMPANY, "first": "5"}
    (update,) = emulator.requests(operation="users.update")
    assert update["body"] == {"account_id": COMPANY, "bio": "Hi"}
    (token,) = emulator.requests(operation="access_tokens.create")
    assert token["body"] == {
        "user_id": alice,
        "account_id": COMPANY,
        "scoped_actions": ["dms:read"],
    }
    (delete,) = emulator.requests(operation="dm_channels.delete")
    assert delete["path"] == f"/api/v1/dm_channels/{channel.id}" and delete["status"] == 200
