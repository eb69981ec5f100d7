"""Credentials, access tokens, scopes and the Api-Version-Date header."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from emulator_support import COMPANY, assert_error

from dm_bridge.testing import DEFAULT_API_KEY


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_missing_and_unknown_credentials_are_401(anonymous):
    error = assert_error(anonymous.get("/dm_channels"), 401, "unauthorized")
    assert "Authorization" in error["message"]
    error = assert_error(
        anonymous.get("/dm_channels", headers=_bearer("apik_wrong")), 401, "unauthorized"
    )
    assert "Unknown API key" in error["message"]
    assert "apik_wrong" not in error["message"]
    error = assert_error(
        anonymous.get("/dm_channels", headers={"Authorization": f"Basic {DEFAULT_API_KEY}"}),
        401,
        "unauthorized",
    )
    assert "Bearer" in error["message"]


def test_access_token_shape_and_default_lifetime(api, users):
    (alice,) = users("alice")
    response = api.post("/access_tokens", json={"account_id": COMPANY, "user_id": alice["id"]})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    header = json.loads(base64.urlsafe_b64decode(body["token"].split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    claims = _claims(body["token"])
    assert claims["sub"] == alice["id"] and claims["company_id"] == COMPANY
    assert set(claims["scopes"]) >= {"dms:read", "dms:message:manage", "dms:channel:manage"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("delta", "status"),
    [(timedelta(hours=3, minutes=5), 422), (timedelta(seconds=-5), 422), (timedelta(hours=2), 200)],
)
def test_access_token_expiry_bounds(api, users, delta, status):
    (alice,) = users("alice")
    expires_at = (datetime.now(UTC) + delta).isoformat()
    response = api.post("/access_tokens", json={"user_id": alice["id"], "expires_at": expires_at})
    assert response.status_code == status, response.text
    if status == 422:
        assert_error(response, 422, "invalid_request")


def test_access_token_request_validation(api, users):
    (alice,) = users("alice")
    assert_error(api.post("/access_tokens", json={}), 400, "invalid_request")
    assert_error(api.post("/access_tokens", json={"user_id": "user_ghost"}), 422, "invalid_request")
    assert_error(
        api.post("/access_tokens", json={"user_id": alice["id"], "company_id": "biz_else"}),
        403,
        "forbidden",
    )
    assert_error(
        api.post("/access_tokens", json={"user_id": alice["id"], "scoped_actions": "dms:read"}),
        400,
        "invalid_request",
    )
    assert_error(
        api.post("/access_tokens", json={"user_id": alice["id"], "expires_at": "tomorrow"}),
        400,
        "invalid_request",
    )


def test_expired_token_is_401(emulator, api, users, make_client):
    (alice,) = users("alice")
    expiry = datetime.now(UTC) + timedelta(seconds=1.5)
    minted = api.post(
        "/access_tokens", json={"user_id": alice["id"], "expires_at": expiry.isoformat()}
    )
    assert minted.status_code == 200, minted.text
    returned = datetime.fromisoformat(minted.json()["expires_at"])
    assert abs((returned - expiry).total_seconds()) < 0.01
    client = make_client(emulator.api_url, headers=_bearer(minted.json()["token"]))
    assert client.get("/dm_channels").status_code == 200
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.1)
    error = assert_error(client.get("/dm_channels"), 401, "unauthorized")
    assert "expired" in error["message"]


def test_tampered_or_foreign_tokens_are_401(anonymous, users, token_for):
    alice, bob = users("alice", "bob")
    token = token_for(alice["id"])
    header, payload, signature = token.split(".")
    claims = _claims(token)
    claims["sub"] = bob["id"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged = f"{header}.{forged_payload}.{signature}"
    error = assert_error(
        anonymous.get("/dm_channels", headers=_bearer(forged)), 401, "unauthorized"
    )
    assert "signature" in error["message"]
    error = assert_error(
        anonymous.get("/dm_channels", headers=_bearer("a.b.c")), 401, "unauthorized"
    )
    assert "token" in error["message"].lower()


def test_token_of_a_user_wiped_by_reset_is_401(emulator, users, token_for, raw):
    (alice,) = users("alice")
    token = token_for(alice["id"])
    emulator.reset()
    response = raw.get(f"{emulator.api_url}/dm_channels", headers=_bearer(token))
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("scopes", "method", "path", "needed"),
    [
        (["dms:message:manage"], "GET", "/dm_channels", "dms:read"),
        (["dms:read"], "POST", "/messages", "dms:message:manage"),
        (["dms:read", "dms:message:manage"], "POST", "/dm_channels", "dms:channel:manage"),
        # SDK 2.6: adding a member needs dms:message:manage; deleting a message needs both.
        (["dms:read"], "POST", "/dm_members", "dms:message:manage"),
        (["dms:message:manage"], "DELETE", "/messages/post_x", "dms:read"),
        (["dms:message:manage"], "DELETE", "/dm_members/dmm_x", "dms:read"),
        (["dms:message:manage"], "POST", "/reactions", "dms:read"),
    ],
)
def test_missing_scope_is_403_naming_it(client_for, users, scopes, method, path, needed):
    (alice,) = users("alice")
    client = client_for(alice["id"], scoped_actions=scopes)
    body = {"channel_id": "feed_x", "content": "x", "with_user_ids": ["alice"], "user_id": "alice"}
    response = client.request(method, path, json=body if method == "POST" else None)
    error = assert_error(response, 403, "forbidden")
    assert needed in error["message"]


def test_dms_read_alone_may_leave_and_mute(api, users, client_for):
    """Leaving or muting a channel needs only dms:read (the SDK's required permission)."""
    alice, bob, carol = users("alice", "bob", "carol")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob", "carol"]}).json()
    members = api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
    mine = next(m for m in members if m["user_id"] == bob["id"])
    as_bob = client_for(bob["id"], scoped_actions=["dms:read"])
    muted = as_bob.patch(f"/dm_members/{mine['id']}", json={"notification_preference": "none"})
    assert muted.status_code == 200 and muted.json()["notification_preference"] == "none"
    assert as_bob.delete(f"/dm_members/{mine['id']}").json() is True
    assert_error(as_bob.get(f"/dm_channels/{channel['id']}"), 404, "not_found")


def test_tokens_cannot_call_company_level_operations(client_for, users):
    (alice,) = users("alice")
    client = client_for(alice["id"])
    assert_error(client.get("/companies"), 403, "forbidden")
    assert_error(client.post("/accounts", json={"email": "x@y.io"}), 403, "forbidden")
    assert_error(client.get("/accounts/me"), 403, "forbidden")
    assert_error(client.post("/access_tokens", json={"user_id": alice["id"]}), 403, "forbidden")
    assert_error(
        client.post("/companies", json={"email": "x@y.io", "parent_company_id": COMPANY}),
        403,
        "forbidden",
    )
    # ...but may read users.
    assert client.get(f"/users/{alice['id']}").status_code == 200


def test_token_for_another_company_is_403(client_for, users):
    alice, bob = users("alice", "bob")
    client = client_for(alice["id"])
    assert_error(client.get("/dm_channels", params={"company_id": "biz_other"}), 403, "forbidden")
    assert_error(
        client.post("/dm_channels", json={"with_user_ids": [bob["id"]], "account_id": "biz_other"}),
        403,
        "forbidden",
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-10-15-1", True),
        ("2025-01-01", True),
        ("2024-02-30", False),
        ("2999-01-01", False),
        ("yesterday", False),
        ("2025-1-1", False),
    ],
)
def test_api_version_date_header(api, value, ok):
    response = api.get("/dm_channels", headers={"Api-Version-Date": value})
    if ok:
        assert response.status_code == 200
    else:
        error = assert_error(response, 400, "invalid_request")
        assert "Api-Version-Date" in error["message"]
