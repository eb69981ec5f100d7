"""Fault injection, the rate limiter and the request log."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from emulator_support import assert_error

from dm_bridge.testing import DEFAULT_API_KEY


def test_error_fault_with_times(emulator, api):
    fault_id = emulator.add_fault("users.list", status=503, times=2)
    assert fault_id.startswith("fault_")
    assert_error(api.get("/users"), 503, "server_error")
    assert_error(api.get("/users"), 503, "server_error")
    assert api.get("/users").status_code == 200
    (fault,) = emulator.control.get("/faults").json()["data"]
    assert fault["id"] == fault_id and fault["triggered"] == 2 and fault["times"] == 0
    # Other operations are untouched.
    emulator.add_fault("users.retrieve", status=500)
    assert api.get("/dm_channels").status_code == 200


def test_error_fault_probability(emulator, api):
    emulator.add_fault("users.list", status=500, probability=0.5)
    statuses = [api.get("/users").status_code for _ in range(120)]
    failures = statuses.count(500)
    assert set(statuses) == {200, 500}
    assert 25 <= failures <= 95
    emulator.clear_faults()
    assert api.get("/users").status_code == 200


def test_wildcard_fault_and_4xx_status(emulator, api):
    emulator.add_fault("*", status=409, times=1)
    assert_error(api.get("/users"), 409, "conflict")
    assert api.get("/users").status_code == 200


def test_injected_429_looks_exactly_like_a_real_one(emulator, api):
    emulator.set_rate_limit(2, operation="users.list")
    assert api.get("/users").status_code == 200
    assert api.get("/users").status_code == 200
    real = api.get("/users")
    error = assert_error(real, 429, "rate_limit_exceeded")
    wait = int(real.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert error["message"] == f"Try again in {wait} seconds."

    emulator.add_fault("dm_channels.list", status=429, retry_after=wait)
    injected = api.get("/dm_channels")
    assert injected.status_code == 429
    assert injected.json() == real.json()
    assert injected.headers["Retry-After"] == real.headers["Retry-After"]


def test_rate_limit_is_per_operation_and_credential(emulator, api, users, client_for):
    (alice,) = users("alice")
    as_alice = client_for(alice["id"])
    emulator.set_rate_limit(3)
    for _ in range(3):
        assert api.get("/users").status_code == 200
    assert api.get("/users").status_code == 429
    assert api.get("/dm_channels").status_code == 200  # another operation
    assert as_alice.get("/users").status_code == 200  # another credential
    # Rejected calls do not count: the log shows them, the window does not grow.
    log = emulator.requests("users.list")
    assert [e["status"] for e in log] == [200, 200, 200, 429, 200]
    # reset() restores the default limit.
    emulator.reset()
    assert api.get("/users").status_code == 200


def test_hang_fault_times_out_the_client(emulator, make_client):
    emulator.add_fault("dm_channels.list", mode="hang")
    client = make_client(
        emulator.api_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/dm_channels")
    assert time.monotonic() - started < 3
    (entry,) = emulator.requests("dm_channels.list")
    assert entry["status"] is None


def test_clearing_faults_releases_a_hang_by_dropping_the_connection(emulator, raw):
    emulator.add_fault("users.list", mode="hang")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            raw.get(
                f"{emulator.api_url}/users",
                headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
                timeout=10,
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.3)
    emulator.clear_faults()
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx.RemoteProtocolError)


def test_commit_then_error_commits_the_side_effect(emulator, api, users):
    alice, bob = users("alice", "bob")
    emulator.add_fault("dm_channels.create", mode="commit_then_error", status=502, times=1)
    assert_error(
        api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}), 502, "server_error"
    )
    (channel,) = api.get("/dm_channels").json()["data"]
    # The retry finds the channel the failed call created.
    again = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]})
    assert again.status_code == 200 and again.json()["id"] == channel["id"]


def test_commit_then_hang_commits_then_times_out(emulator, api, users):
    users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    emulator.add_fault("messages.create", mode="commit_then_hang")
    with pytest.raises(httpx.ReadTimeout):
        api.post(
            "/messages", json={"channel_id": channel["id"], "content": "did it land?"}, timeout=0.5
        )
    emulator.clear_faults()
    listed = api.get("/messages", params={"channel_id": channel["id"]}).json()["data"]
    assert [m["content"] for m in listed] == ["did it land?"]


def test_latency_only_fault_delays(emulator, api):
    emulator.add_fault("users.list", latency_ms=300)
    started = time.monotonic()
    assert api.get("/users").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.get("/dm_channels")
    assert time.monotonic() - started < 0.3


def test_a_zero_latency_fault_is_a_latency_fault_not_an_error(emulator, api):
    """`bench/channel_backlog.py --latency-ms 0` sends this; it used to answer 500 everywhere."""
    emulator.add_fault("*", latency_ms=0)
    assert api.get("/users").status_code == 200
    assert [f["mode"] for f in emulator.control.get("/faults").json()["data"]] == ["latency"]


@pytest.mark.parametrize(
    "spec",
    [
        {"operation": "nope.list"},
        {"operation": "users.list", "mode": "explode"},
        {"operation": "users.list", "status": 200},
        {"operation": "users.list", "probability": 2},
        {"operation": "users.list", "times": 0},
        {},
    ],
)
def test_bad_fault_specs_are_rejected(emulator, spec):
    response = emulator.control.post("/faults", json=spec)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_request_log_records_calls_without_credentials(emulator, api, users, raw, make_client):
    (alice,) = users("alice")
    token_response = api.post("/access_tokens", json={"user_id": alice["id"]})
    token = token_response.json()["token"]
    as_alice = make_client(emulator.api_url, headers={"Authorization": f"Bearer {token}"})
    as_alice.post(
        "/dm_channels", json={"with_user_ids": ["alice"]}, params={"account_id": "biz_emulator"}
    )
    raw.get(f"{emulator.api_url}/users")
    emulator.control.get("/faults")  # control calls are not logged
    log = emulator.requests()
    assert [e["operation"] for e in log] == [
        "access_tokens.create",
        "dm_channels.create",
        "users.list",
    ]
    first, second, third = log
    assert first["subject"] == "company:biz_emulator"
    assert first["body"] == {"user_id": alice["id"]}
    assert first["method"] == "POST" and first["path"] == "/api/v1/access_tokens"
    assert second["subject"] == f"user:{alice['id']}"
    assert second["query"] == {"account_id": "biz_emulator"}
    assert second["status"] == 200 and second["duration_ms"] >= 0
    assert third["subject"] == "anonymous" and third["status"] == 401
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    dumped = json.dumps(log)
    assert DEFAULT_API_KEY not in dumped and token not in dumped
    assert len(emulator.requests("users.list")) == 1
    emulator.control.delete("/requests")
    assert emulator.requests() == []
