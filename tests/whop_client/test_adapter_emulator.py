"""dm_bridge's adapter against the emulator over real HTTP: the scenarios dm_bridge relies on.

The official SDK alone is checked against the emulator in ``tests/conformance/``; here the
same SDK runs inside dm_bridge's adapter, so what is asserted is dm_bridge's own part:
classification of failures produced by a real socket (401/400/404/422/429, injected 5xx, a
hung response, a commit-then-error, a closed port), pacing of every page, the 429 reaching
the limiter, the attempt hook, the Idempotency-Key on the wire, and no credential anywhere.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from whop_sdk.types import Account, DmChannel, DmMember, Message, User

from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID, free_port
from dm_bridge.whop import (
    WhopAdapter,
    WhopAuthenticationError,
    WhopBadRequestError,
    WhopConflictError,
    WhopConnectionError,
    WhopNotFoundError,
    WhopPermissionError,
    WhopRateLimitError,
    WhopServerError,
    WhopTimeoutError,
    WhopValidationError,
)

pytestmark = pytest.mark.timeout(120)
COMPANY = DEFAULT_COMPANY_ID


class CountingPacer:
    def __init__(self) -> None:
        self.slots: list[str] = []
        self.blocked: list[tuple[str, float]] = []

    def wait_for_slot(self, operation: str) -> None:
        self.slots.append(operation)

    def block(self, operation: str, seconds: float) -> None:
        self.blocked.append((operation, seconds))


@pytest.fixture
def pacer() -> CountingPacer:
    return CountingPacer()


@pytest.fixture
def whop(emulator, pacer):
    with WhopAdapter.build(DEFAULT_API_KEY, base_url=emulator.api_url, pacer=pacer) as adapter:
        yield adapter


@pytest.fixture
def users(emulator):
    def seed(count: int) -> list[str]:
        rows = [
            {"username": f"member{i}", "email": f"member{i}@example.test"} for i in range(count)
        ]
        return [user["id"] for user in emulator.seed(users=rows)["users"]]

    return seed


def as_user(whop: WhopAdapter, emulator, user_id: str, scopes: list[str]) -> WhopAdapter:
    token = whop.access_tokens.create(user_id=user_id, account_id=COMPANY, scoped_actions=scopes)
    return WhopAdapter.build(token.token, base_url=emulator.api_url)


# --- what dm_bridge's workflows do, end to end ------------------------------------------------
def test_channel_members_and_messages_as_dm_bridge_uses_them(whop, emulator, users, pacer):
    alice, bob, carol = users(3)
    hooked: list[str] = []
    channel = whop.dm_channels.create(
        with_user_ids=[alice, bob],
        account_id=COMPANY,
        custom_name="Deal #1",
        before_send=lambda: hooked.append("create"),
        idempotency_key="dmb_test_create",
    )
    assert isinstance(channel, DmChannel) and channel.id.startswith("feed_")
    assert hooked == ["create"]
    again = whop.dm_channels.create(with_user_ids=[bob, alice], account_id=COMPANY)
    assert again.id == channel.id  # get-or-create per member set

    member = whop.dm_members.create(channel_id=channel.id, user_id=carol)
    assert isinstance(member, DmMember) and member.user_id == carol
    listed = {m.user_id: m.id for m in whop.dm_members.list(channel_id=channel.id)}
    assert set(listed) == {alice, bob, carol}
    assert whop.dm_members.delete(listed[carol]) is True

    posted = whop.messages.create(channel_id=channel.id, content="About: **Lamp**")
    assert isinstance(posted, Message) and posted.content == "About: **Lamp**"
    newest = whop.messages.list(channel_id=channel.id, direction="desc", first=50).items
    assert [m.id for m in newest] == [posted.id]

    renamed = whop.dm_channels.update(channel.id, custom_name=None)
    assert renamed.name is None
    assert whop.dm_channels.delete(channel.id) is True
    with pytest.raises(WhopNotFoundError):
        whop.dm_channels.retrieve(channel.id)
    assert pacer.slots[:2] == ["dm_channels.create", "dm_channels.create"]
    assert "dm_members.list" in pacer.slots


def test_connected_account_then_profile_then_token(whop, emulator):
    account = whop.accounts.create(
        email="newcomer@example.test",
        title="Newcomer",
        metadata={"external_id": "42"},
        send_customer_emails=False,
        idempotency_key="dmb_test_account",
    )
    assert isinstance(account, Account) and account.id.startswith("biz_")
    assert account.owner.id.startswith("user_") and account.metadata == {"external_id": "42"}
    found = [
        a.id
        for a in whop.accounts.list(parent_account_id=COMPANY)
        if (a.metadata or {}).get("external_id") == "42"
    ]
    assert found == [account.id]
    profile = whop.users.update(account.owner.id, account_id=COMPANY, name="New Comer")
    assert isinstance(profile, User) and profile.name == "New Comer"
    token = whop.access_tokens.create(
        user_id=account.owner.id, account_id=COMPANY, scoped_actions=["dms:read"]
    )
    assert token.token and token.expires_at.tzinfo is not None
    (create,) = emulator.requests(operation="accounts.create")
    assert create["body"] == {
        "email": "newcomer@example.test",
        "title": "Newcomer",
        "metadata": {"external_id": "42"},
        "send_customer_emails": False,
    }


def test_every_page_is_paced(whop, emulator, users, pacer):
    members = users(7)
    channel = whop.dm_channels.create(with_user_ids=members, account_id=COMPANY)
    pacer.slots.clear()
    seen = [m.user_id for m in whop.dm_members.list(channel_id=channel.id, first=3)]
    assert sorted(seen) == sorted(members)
    assert pacer.slots == ["dm_members.list"] * 3
    assert len(emulator.requests("dm_members.list")) == 3


# --- failures from a real socket ---------------------------------------------------------------
def test_bad_key_is_401_and_never_shown(emulator):
    with (
        WhopAdapter.build("apik_not_a_real_key", base_url=emulator.api_url) as bad,
        pytest.raises(WhopAuthenticationError) as info,
    ):
        bad.dm_channels.list(account_id=COMPANY)
    assert (info.value.status, info.value.retryable, info.value.ambiguous) == (401, False, False)
    assert "apik_not_a_real_key" not in str(info.value) + repr(info.value)


def test_unknown_api_version_is_400(emulator):
    with (
        WhopAdapter.build(
            DEFAULT_API_KEY, base_url=emulator.api_url, api_version="2999-01-01"
        ) as old,
        pytest.raises(WhopBadRequestError) as info,
    ):
        old.dm_channels.list()
    assert info.value.status == 400 and not info.value.retryable


def test_unknown_ids_are_404_and_bad_values_422(whop, users):
    for call in (whop.dm_channels.retrieve, whop.dm_members.retrieve, whop.messages.retrieve):
        with pytest.raises(WhopNotFoundError) as info:
            call("x_doesnotexist")
        assert isinstance(info.value, LookupError) and not info.value.retryable
    (alice,) = users(1)
    with pytest.raises(WhopValidationError) as invalid:
        whop.dm_channels.create(with_user_ids=[alice, "user_nobody"], account_id=COMPANY)
    assert invalid.value.status == 422 and "user_nobody" in invalid.value.message


def test_a_member_token_cannot_manage_the_channel(whop, emulator, users):
    alice, bob = users(2)
    channel = whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
    with (
        as_user(whop, emulator, bob, ["dms:read"]) as reader,
        pytest.raises(WhopPermissionError) as info,
    ):
        reader.messages.create(channel_id=channel.id, content="hi")
    assert info.value.status == 403 and not info.value.retryable


def test_429_is_classified_and_blocks_the_operation_in_the_limiter(whop, emulator, users, pacer):
    alice, bob = users(2)
    channel = whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
    emulator.set_rate_limit(2, operation="dm_channels.retrieve")
    whop.dm_channels.retrieve(channel.id)
    whop.dm_channels.retrieve(channel.id)
    with pytest.raises(WhopRateLimitError) as info:
        whop.dm_channels.retrieve(channel.id)
    exc = info.value
    assert (exc.status, exc.error_type, exc.retryable, exc.ambiguous) == (
        429,
        "rate_limit_exceeded",
        True,
        False,
    )
    assert exc.retry_after is not None and 0 < exc.retry_after <= 60
    assert pacer.blocked == [("dm_channels.retrieve", exc.retry_after)]
    assert len(emulator.requests("dm_channels.retrieve")) == 3  # the SDK did not retry


def test_injected_503_is_retryable_ambiguous_and_not_retried_by_the_sdk(whop, emulator, users):
    alice, bob = users(2)
    channel = whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
    emulator.add_fault("dm_channels.retrieve", status=503, times=1)
    with pytest.raises(WhopServerError) as info:
        whop.dm_channels.retrieve(channel.id)
    assert (info.value.status, info.value.retryable, info.value.ambiguous) == (503, True, True)
    assert info.value.operation == "dm_channels.retrieve"
    assert [r["status"] for r in emulator.requests("dm_channels.retrieve")] == [503]
    assert whop.dm_channels.retrieve(channel.id).id == channel.id


def test_adding_an_existing_member_is_not_a_retry_loop(whop, emulator, users):
    alice, bob = users(2)
    channel = whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
    try:
        again = whop.dm_members.create(channel_id=channel.id, user_id=bob)
    except (WhopConflictError, WhopValidationError) as exc:
        assert exc.status in (409, 422)
    else:
        assert again.user_id == bob  # idempotent answer: the existing membership
    assert len(emulator.requests("dm_members.create")) == 1


def test_hung_response_times_out_ambiguously(emulator, users):
    alice, bob = users(2)
    with WhopAdapter.build(DEFAULT_API_KEY, base_url=emulator.api_url, timeout=1.0) as impatient:
        channel = impatient.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
        emulator.add_fault("dm_channels.retrieve", mode="hang", times=1)
        started = time.monotonic()
        with pytest.raises(WhopTimeoutError) as info:
            impatient.dm_channels.retrieve(channel.id)
        assert time.monotonic() - started < 5
        exc = info.value
        assert exc.ambiguous and exc.retryable and exc.status is None
        assert isinstance(exc, TimeoutError)
        assert impatient.dm_channels.retrieve(channel.id).id == channel.id


def test_commit_then_error_then_get_or_create_finds_it(whop, emulator, users):
    alice, bob = users(2)
    emulator.add_fault("dm_channels.create", mode="commit_then_error", times=1)
    with pytest.raises(WhopServerError) as info:
        whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
    assert info.value.ambiguous and info.value.retryable
    existing = [c.id for c in whop.dm_channels.list(account_id=COMPANY)]
    assert len(existing) == 1  # the side effect did happen
    assert whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY).id == existing[0]
    assert [c.id for c in whop.dm_channels.list(account_id=COMPANY)] == existing


def test_closed_port_is_an_unambiguous_connection_error():
    with (
        WhopAdapter.build(
            DEFAULT_API_KEY, base_url=f"http://127.0.0.1:{free_port()}/api/v1"
        ) as nowhere,
        pytest.raises(WhopConnectionError) as info,
    ):
        nowhere.dm_channels.list()
    exc = info.value
    assert exc.retryable and not exc.ambiguous and exc.status is None
    assert exc.operation == "dm_channels.list"


def test_no_key_in_logs_or_the_request_log(whop, emulator, users, caplog):
    caplog.set_level(logging.DEBUG)
    alice, bob = users(2)
    channel = whop.dm_channels.create(with_user_ids=[alice, bob], account_id=COMPANY)
    whop.dm_channels.retrieve(channel.id)
    with pytest.raises(WhopNotFoundError):
        whop.dm_channels.retrieve("feed_doesnotexist")
    assert "whop dm_channels.create -> ok in " in caplog.text
    assert "whop dm_channels.retrieve -> 404 in " in caplog.text
    assert DEFAULT_API_KEY not in caplog.text
    assert DEFAULT_API_KEY not in json.dumps(emulator.requests())
    (created,) = emulator.requests(operation="dm_channels.create")
    assert created["body"] == {"with_user_ids": [alice, bob], "account_id": COMPANY}
