"""The emulator as a process: persistence with --data, the CLI, and signed webhooks."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
import standardwebhooks
from emulator_support import AUTH

from dm_bridge.testing import DEFAULT_API_KEY, EmulatorProcess, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    instance = WebhookReceiver()
    yield instance
    instance.close()


def _verifier(secret: str) -> standardwebhooks.Webhook:
    # Whop's convention: the library gets base64(secret) and decodes it back to its bytes.
    return standardwebhooks.Webhook(base64.b64encode(secret.encode()).decode())


def _channel_with_message(
    api: httpx.Client, emulator: EmulatorProcess, content: str
) -> tuple[dict, dict]:
    emulator.seed(users=[{"username": "alice"}, {"username": "bob"}])
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    message = api.post("/messages", json={"channel_id": channel["id"], "content": content}).json()
    return channel, message


def test_message_created_webhook_is_delivered_and_signed(emulator, receiver, api):
    secret = "ws_test_secret_value"
    webhook_id = emulator.add_webhook(receiver.url, secret)
    ignored = emulator.add_webhook(receiver.url, "ws_other", events=["chat.reaction.created"])
    assert {w["id"] for w in emulator.control.get("/webhooks").json()["data"]} == {
        webhook_id,
        ignored,
    }
    assert "ws_test" not in emulator.control.get("/webhooks").text
    channel, message = _channel_with_message(api, emulator, "hello hook")

    ((headers, body, _),) = receiver.wait_for(1)
    payload = _verifier(secret).verify(body, headers)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    assert payload["id"] == headers["webhook-id"]
    assert payload["type"] == "chat.message.created" and payload["api_version"] == "v1"
    assert payload["api_version_date"] == "2026-10-15-1"
    assert payload["account_id"] == "biz_emulator" and "company_id" not in payload
    datetime.fromisoformat(payload["timestamp"])
    # Whop's shape: the message exactly as GET /messages/{id} returns it, the channel beside it.
    assert payload["data"] == {
        "reason": "message_created",
        "audience": {"type": "channel"},
        "channel": {"id": channel["id"], "type": "direct_message"},
        "message": api.get(f"/messages/{message['id']}").json(),
    }
    assert payload["data"]["message"] == message and "channel_id" not in message
    # A tampered body fails verification.
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        _verifier(secret).verify(body.replace(b"hello hook", b"hello hack"), headers)

    time.sleep(0.2)
    assert len(receiver.received) == 1  # the reaction-only endpoint got nothing
    (delivery,) = emulator.webhook_deliveries()
    assert delivery["webhook_id"] == webhook_id and delivery["event_id"] == headers["webhook-id"]
    assert delivery["type"] == "chat.message.created"
    assert (delivery["attempt"], delivery["status_code"], delivery["error"]) == (1, 204, None)


def test_failed_webhook_is_retried_with_the_same_id(emulator, api):
    receiver = WebhookReceiver(fail_first=2)
    try:
        secret = "ws_retry_secret"
        response = emulator.control.post(
            "/webhooks",
            json={"url": receiver.url, "secret": secret, "retry_delays": [0.05, 0.05, 0.05]},
        )
        webhook_id = response.json()["id"]
        _channel_with_message(api, emulator, "retry me")
        received = receiver.wait_for(3)
        assert [status for _, _, status in received] == [500, 500, 204]
        assert len({headers["webhook-id"] for headers, _, _ in received}) == 1
        for headers, body, _ in received:
            _verifier(secret).verify(body, headers)
        time.sleep(0.2)
        deliveries = [d for d in emulator.webhook_deliveries() if d["webhook_id"] == webhook_id]
        assert [(d["attempt"], d["status_code"]) for d in deliveries] == [
            (1, 500),
            (2, 500),
            (3, 204),
        ]
        assert deliveries[0]["error"] and deliveries[2]["error"] is None
    finally:
        receiver.close()


def test_cli_webhook_gives_up_after_the_configured_retries(tmp_path, make_client):
    receiver = WebhookReceiver(fail_first=100)
    log = tmp_path / "emulator.log"
    args = ["--webhook-url", receiver.url, "--webhook-secret", "ws_cli_secret"]
    args += ["--webhook-retry-delays", "0.05,0.05"]
    try:
        with EmulatorProcess(extra_args=args, log_file=log) as process:
            api = make_client(process.api_url, headers=AUTH)
            _channel_with_message(api, process, "never accepted")
            received = receiver.wait_for(3)
            time.sleep(0.3)
            assert len(receiver.received) == 3  # first try + 2 retries, then it gives up
            for headers, body, _ in received:
                _verifier("ws_cli_secret").verify(body, headers)
            deliveries = process.webhook_deliveries()
            assert [d["attempt"] for d in deliveries] == [1, 2, 3]
            assert all(d["status_code"] == 500 for d in deliveries)
    finally:
        receiver.close()
    text = log.read_text()
    assert "Whop emulator listening on http://127.0.0.1:" in text and "(data: memory)" in text
    assert "POST /api/v1/messages 200" in text
    assert DEFAULT_API_KEY not in text and "ws_cli_secret" not in text


def test_state_survives_a_restart_with_data_file(tmp_path, make_client):
    data = tmp_path / "whop.sqlite3"
    with EmulatorProcess(data_file=data) as process:
        api = make_client(process.api_url, headers=AUTH)
        channel, message = _channel_with_message(api, process, "persist me")
        alice = api.get("/users/alice").json()
        api.patch(
            f"/users/{alice['id']}", json={"company_id": "biz_emulator", "name": "Alice (shop)"}
        )
        company = api.post(
            "/companies", json={"email": "s@example.test", "parent_company_id": "biz_emulator"}
        ).json()
        token = api.post("/access_tokens", json={"user_id": alice["id"]}).json()["token"]
        webhook_id = process.add_webhook("http://127.0.0.1:9/hook", "ws_persist")

    with EmulatorProcess(data_file=data) as process:
        as_alice = make_client(process.api_url, headers={"Authorization": f"Bearer {token}"})
        # The signing secret persisted: the old token still works, and alice is still a member.
        restored = as_alice.get(f"/dm_channels/{channel['id']}").json()
        assert restored == {**channel, "last_message_at": message["created_at"]}
        messages = as_alice.get("/messages", params={"channel_id": channel["id"]}).json()["data"]
        assert [m["id"] for m in messages] == [message["id"]]
        assert messages[0]["content"] == "persist me"
        members = as_alice.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"]
        assert len(members) == 2
        api = make_client(process.api_url, headers=AUTH)
        assert api.get(f"/companies/{company['id']}").json() == company
        profile = api.get(f"/users/{alice['id']}", params={"company_id": "biz_emulator"}).json()
        assert profile["name"] == "Alice (shop)"
        # get-or-create still finds the channel after the restart.
        again = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
        assert again["id"] == channel["id"]
        assert [w["id"] for w in process.control.get("/webhooks").json()["data"]] == [webhook_id]


def test_bad_cli_arguments_fail_fast():
    with pytest.raises(RuntimeError):
        EmulatorProcess(api_keys={"apik_x": "not_a_company"}).start(timeout=10)


def test_reset_keeps_configured_companies_and_wipes_the_rest(emulator, api):
    _channel_with_message(api, emulator, "gone soon")
    emulator.add_webhook("http://127.0.0.1:9/x", "ws_x")
    bot_before = api.get("/users", params={"query": "bot"}).json()["data"]
    emulator.reset()
    assert emulator.requests() == []
    assert api.get("/dm_channels").json()["data"] == []
    assert api.get("/users/alice").status_code == 404
    assert emulator.control.get("/webhooks").json()["data"] == []
    bot_after = api.get("/users", params={"query": "bot"}).json()["data"]
    assert [u["id"] for u in bot_after] == [u["id"] for u in bot_before]
    assert api.get("/companies/biz_emulator").json()["owner_user"]["id"] == bot_after[0]["id"]


def test_seed_response_shapes(emulator):
    seeded = emulator.seed(
        users=[
            {"id": "user_fixed1", "username": "fixed", "name": "Fixed", "email": "f@example.test"}
        ],
        dm_channels=[
            {"id": "feed_fixed1", "member_user_ids": ["user_fixed1"], "company_id": "biz_emulator"}
        ],
        messages=[{"channel_id": "feed_fixed1", "user_id": "user_fixed1", "content": "seeded"}],
    )
    assert seeded["users"][0]["id"] == "user_fixed1"
    assert seeded["users"][0]["username"] == "fixed"
    assert seeded["users"][0]["profile_picture"]["url"].startswith("https://")
    assert seeded["users"][0]["email"] is None  # email is a self-view (users/me) field
    assert seeded["dm_channels"][0]["id"] == "feed_fixed1"
    assert seeded["messages"][0]["user"] == {
        "id": "user_fixed1",
        "name": "Fixed",
        "username": "fixed",
    }
    assert json.loads(json.dumps(seeded)) == seeded
