"""Users, connected accounts and access tokens through the official SDK, unmodified."""

from __future__ import annotations

import datetime as dt

from sdk_conformance import ACCOUNT, missing_required, raises
from whop_sdk.core.api_error import ApiError
from whop_sdk.errors import ForbiddenError, NotFoundError
from whop_sdk.types import Account, User


def test_users_retrieve_me_update(sdk, user_sdk, people, recorder):
    alice = people["alice"]
    fetched = sdk.users.retrieve(alice["id"])
    raw = recorder.last("GET", f"/users/{alice['id']}")
    assert missing_required(User, raw) == []
    assert fetched.profile_picture.url.startswith("https://")  # a placeholder, never null
    assert fetched.email is None  # self-only
    assert sdk.users.retrieve("alice").id == alice["id"]  # by username
    as_alice = user_sdk(alice["id"])
    me = as_alice.users.me()
    assert me.id == alice["id"] and me.email == "alice@example.test"
    # API key: account_id is required and sets that account's profile override. (users.update
    # declares no typed errors in SDK 2.6, so a 400 arrives as the base ApiError.)
    with raises(ApiError) as refused:
        sdk.users.update(alice["id"], name="Nope")
    assert refused.value.status_code == 400
    assert refused.value.body["error"]["param"] == "account_id"
    override = sdk.users.update(
        alice["id"],
        account_id=ACCOUNT,
        name="Alice (Shop)",
        profile_picture={"url": "https://p.test/a.png"},
    )
    assert (
        override.name == "Alice (Shop)" and override.profile_picture.url == "https://p.test/a.png"
    )
    assert sdk.users.retrieve(alice["id"]).name == "Alice"
    assert sdk.users.retrieve(alice["id"], account_id=ACCOUNT).name == "Alice (Shop)"
    # A user token updates its own global profile (with or without "me").
    assert as_alice.users.update(alice["id"], bio="Hi").bio == "Hi"
    assert as_alice.users.update_me(name="Alice A").name == "Alice A"
    with raises(ApiError) as not_yours:
        as_alice.users.update(people["bob"]["id"], name="x")
    assert not_yours.value.status_code == 403
    # The override shows in messages of that account.
    channel = as_alice.dm_channels.create(with_user_ids=[people["bob"]["id"]])
    message = as_alice.messages.create(channel_id=channel.id, content="hi")
    assert message.user.name == "Alice (Shop)"


def test_users_list(sdk, user_sdk, people):
    everyone = list(sdk.users.list(first=2))  # paged by the SDK
    assert {u.id for u in everyone} >= {p["id"] for p in people.values()}
    assert [u.username for u in sdk.users.list(query="car")] == ["carol"]
    alice, bob = people["alice"], people["bob"]
    sdk.dm_channels.create(with_user_ids=[alice["id"], bob["id"]])
    as_alice = user_sdk(alice["id"])
    # Emulator choice: a user token sees itself and the users it shares a DM with.
    assert [u.id for u in as_alice.users.list()] == [alice["id"], bob["id"]]
    assert list(as_alice.users.list(query="carol")) == []


def test_accounts(sdk, people, recorder):
    me = sdk.accounts.me()
    assert me.id == ACCOUNT and me.parent_account is None
    assert missing_required(Account, recorder.last("GET", "/accounts/me")) == []
    created = sdk.accounts.create(
        email="alice@example.test", metadata={"external_id": "local-1"}, send_customer_emails=False
    )
    assert missing_required(Account, recorder.last("POST", "/accounts")) == []
    assert created.id.startswith("biz_") and created.title == "local-1"
    assert created.owner.id == people["alice"]["id"]  # the existing Whop user with that email
    assert created.owner.profile_picture.url
    assert created.parent_account is not None and created.parent_account.id == ACCOUNT
    assert created.metadata == {"external_id": "local-1"}
    fresh = sdk.accounts.create(email="new.seller@example.test", title="New Seller")
    assert fresh.owner.username == "new-seller"  # a new Whop user
    assert sdk.accounts.retrieve(created.id) == created
    assert sdk.accounts.retrieve(created.route).id == created.id
    assert [a.id for a in sdk.accounts.list()] == [ACCOUNT, created.id, fresh.id]
    children = sdk.accounts.list(parent_account_id=ACCOUNT)
    assert [a.id for a in children] == [created.id, fresh.id]
    found = sdk.accounts.list(parent_account_id=ACCOUNT, query="local-1")
    assert [a.metadata.get("external_id") for a in found] == ["local-1"]
    with raises(ForbiddenError):
        list(sdk.accounts.list(parent_account_id="biz_someone_else"))
    with raises(NotFoundError):
        sdk.accounts.retrieve("biz_nobody")


def test_access_tokens(sdk, sdk_as, people, emulator):
    alice = people["alice"]
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    token = sdk.access_tokens.create(
        account_id=ACCOUNT, user_id=alice["id"], scoped_actions=["dms:read"], expires_at=expires
    )
    assert abs((token.expires_at - expires).total_seconds()) < 1
    assert sdk_as(token.token).users.me().id == alice["id"]
    with raises(ForbiddenError):  # dms:read only
        sdk_as(token.token).dm_channels.create(with_user_ids=["bob"])
    # SDK: "pass `account_id` or `user_id`": an account token acts as the account.
    account_token = sdk.access_tokens.create(account_id=ACCOUNT, scoped_actions=["dms:read"])
    as_account = sdk_as(account_token.token)
    channel = sdk.dm_channels.create(with_user_ids=[alice["id"], "bob"])
    assert [c.id for c in as_account.dm_channels.list()] == [channel.id]
    with raises(ForbiddenError):
        as_account.messages.create(channel_id=channel.id, content="no dms:message:manage")
    subjects = {r["subject"] for r in emulator.requests("dm_channels.list")}
    assert subjects == {f"company:{ACCOUNT}"}  # the token is never logged, only its subject
