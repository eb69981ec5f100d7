"""Bad input never gets a 500; CORS; the elements script; concurrent get-or-create."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

import httpx
import pytest
from emulator_support import AUTH, assert_error

import dm_bridge.emulator


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        ("POST", "/dm_channels", b"{not json", 400),
        ("POST", "/dm_channels", b"[1, 2, 3]", 400),
        ("POST", "/dm_channels", b'"just a string"', 400),
        ("POST", "/dm_channels", b"\xff\xfe\x00garbage", 400),
        ("POST", "/dm_channels", b"{}", 400),
        ("POST", "/dm_channels", b'{"with_user_ids": "alice"}', 400),
        ("POST", "/dm_channels", b'{"with_user_ids": [1, 2]}', 400),
        ("POST", "/dm_channels", b'{"with_user_ids": []}', 422),
        ("POST", "/dm_channels", b'{"with_user_ids": ["alice"], "custom_name": 5}', 400),
        ("POST", "/dm_channels", b'{"with_user_ids": ["alice"], "company_id": 7}', 400),
        (
            "POST",
            "/dm_channels",
            b'{"with_user_ids": ["alice"], "company_id": "biz_emulator", "account_id": "biz_x"}',
            400,
        ),
        (
            "POST",
            "/dm_channels",
            b'{"with_user_ids": ["alice"], "notifications_enabled": "yes"}',
            400,
        ),
        ("PATCH", "/dm_channels/feed_unknown", b'{"custom_name": "x"}', 404),
        ("DELETE", "/dm_channels/feed_unknown", b"", 404),
        ("GET", "/dm_members/dmm_unknown", b"", 404),
        ("PATCH", "/dm_members/dmm_unknown", b"{}", 404),
        ("DELETE", "/messages/post_unknown", b"", 404),
        ("PATCH", "/messages/post_unknown", b'{"content": "x"}', 404),
        ("POST", "/messages", b'{"channel_id": ["feed_x"], "content": "x"}', 400),
        (
            "POST",
            "/messages",
            b'{"channel_id": "feed_x", "content": "x", "attachments": "no"}',
            400,
        ),
        ("POST", "/messages", b'{"channel_id": "feed_x", "content": "x", "poll": 3}', 400),
        ("POST", "/dm_members", b'{"channel_id": null, "user_id": null}', 400),
        ("PATCH", "/users/user_unknown", b'{"name": "x"}', 404),
        ("PATCH", "/users/alice", b'{"profile_picture": 12}', 400),
        ("POST", "/access_tokens", b'{"user_id": "alice", "expires_at": true}', 400),
        ("POST", "/access_tokens", b'{"user_id": 42}', 400),
        ("POST", "/companies", b'{"email": ["a@b.io"], "parent_company_id": "biz_emulator"}', 400),
        ("GET", "/nothing_here", b"", 404),
        ("GET", "/dm_channels/a/b", b"", 404),
        ("PUT", "/dm_channels", b"{}", 405),
        ("DELETE", "/users/alice", b"", 405),
    ],
)
def test_bad_input_gets_a_whop_shaped_4xx(raw, emulator, users, method, path, content, status):
    users("alice")
    response = raw.request(
        method,
        f"{emulator.api_url}{path}",
        content=content,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] in {"invalid_request", "not_found"}
    assert error["message"]


def test_oversized_body_is_413(raw, emulator):
    big = b'{"with_user_ids": ["' + b"x" * (2 * 1024 * 1024) + b'"]}'
    response = raw.post(f"{emulator.api_url}/dm_channels", content=big, headers=AUTH, timeout=10)
    assert_error(response, 413, "invalid_request")
    assert raw.get(f"{emulator.url}/_emulator/health").json() == {"ok": True}


def test_chunked_body_is_accepted(raw, emulator, users):
    users("alice", "bob")

    def chunks():
        yield b'{"with_user_ids": '
        yield b'["alice", "bob"]}'

    response = raw.post(f"{emulator.api_url}/dm_channels", content=chunks(), headers=AUTH)
    assert response.status_code == 200, response.text


def test_malformed_http_does_not_kill_the_server(raw, emulator):
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/dm_channels HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        sock.recv(4096)
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        sock.recv(4096)
    assert raw.get(f"{emulator.url}/_emulator/health").json() == {"ok": True}


def test_cors_preflight_and_response_headers(raw, emulator):
    origin = "http://localhost:8000"
    preflight = raw.options(
        f"{emulator.api_url}/messages",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, api-version-date",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "api-version-date"):
        assert header in allowed_headers
    for method in ("GET", "POST", "PATCH", "DELETE", "OPTIONS"):
        assert method in preflight.headers["Access-Control-Allow-Methods"]
    actual = raw.get(f"{emulator.api_url}/dm_channels", headers={**AUTH, "Origin": origin})
    assert actual.headers["Access-Control-Allow-Origin"] == origin
    denied = raw.get(f"{emulator.api_url}/dm_channels", headers={"Origin": origin})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == origin


def test_elements_script_is_served_when_present(raw, emulator):
    response = raw.get(emulator.elements_url)
    script = Path(dm_bridge.emulator.__file__).parent / "static" / "elements.js"
    if script.exists():
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/javascript")
        assert response.content == script.read_bytes()
    else:
        assert_error(response, 404, "not_found")


def test_concurrent_get_or_create_makes_one_channel(users, api):
    users("alice", "bob", "carol")
    results: list[httpx.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def create() -> None:
        barrier.wait()
        response = api.post("/dm_channels", json={"with_user_ids": ["carol", "alice", "bob"]})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=create) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 50
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["id"] for r in results}) == 1
    assert len(api.get("/dm_channels").json()["data"]) == 1


def test_control_api_errors_are_whop_shaped(raw, emulator):
    assert_error(emulator.control.post("/seed", content=b"{oops"), 400, "invalid_request")
    assert_error(
        emulator.control.post("/seed", json={"users": [{"name": "no username"}]}),
        400,
        "invalid_request",
    )
    assert_error(
        emulator.control.post("/seed", json={"dm_channels": [{"member_user_ids": ["ghost"]}]}),
        422,
        "invalid_request",
    )
    assert_error(emulator.control.get("/nope"), 404, "not_found")
    assert_error(
        emulator.control.post("/rate_limits", json={"per_minute": "many"}), 400, "invalid_request"
    )
    # A failed seed leaves nothing behind.
    emulator.control.post("/seed", json={"users": [{"username": "solo"}, {"username": "solo"}]})
    assert raw.get(f"{emulator.api_url}/users/solo", headers=AUTH).status_code == 404


NASTY_VALUES = [
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    "",
    " ",
    "x" * 5000,
    "\u0000",
    "user_\u2603",
    [],
    [None],
    ["a", 1],
    {},
    {"url": 5},
    [[[[]]]],
]
FIELDS = [
    "with_user_ids",
    "company_id",
    "account_id",
    "custom_name",
    "channel_id",
    "user_id",
    "content",
    "status",
    "notification_preference",
    "is_pinned",
    "attachments",
    "poll",
    "replying_to_message_id",
    "name",
    "username",
    "profile_picture",
    "email",
    "parent_company_id",
    "metadata",
    "scoped_actions",
    "expires_at",
]
RAW_BODIES = [
    b"NaN",
    b'{"expires_at": Infinity, "user_id": "alice"}',
    b'{"with_user_ids": ["\\ud800"]}',
    b"[" * 50_000 + b"]" * 50_000,
    b"\xc3\x28",
    b"{}" * 3,
]


def test_fuzzed_requests_never_get_a_5xx(raw, api, users, token_for):
    alice, bob = users("alice", "bob")
    channel = api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]}).json()
    message = api.post("/messages", json={"channel_id": channel["id"], "content": "x"}).json()
    member = api.get("/dm_members", params={"channel_id": channel["id"]}).json()["data"][0]
    credentials = [AUTH, {"Authorization": f"Bearer {token_for(alice['id'])}"}]
    targets = [
        ("POST", "/dm_channels"),
        ("GET", "/dm_channels"),
        ("PATCH", f"/dm_channels/{channel['id']}"),
        ("POST", "/dm_members"),
        ("GET", "/dm_members"),
        ("PATCH", f"/dm_members/{member['id']}"),
        ("POST", "/messages"),
        ("GET", "/messages"),
        ("PATCH", f"/messages/{message['id']}"),
        ("GET", "/users"),
        ("PATCH", f"/users/{alice['id']}"),
        ("POST", "/companies"),
        ("GET", "/companies"),
        ("POST", "/access_tokens"),
        ("GET", "/users/%00%ff"),
        ("GET", "/dm_channels/%2e%2e"),
    ]
    rng = random.Random(1234)
    statuses = []
    for headers in credentials:
        for method, path in targets:
            url = f"/api/v1{path}"
            for _ in range(40):
                fields = rng.sample(FIELDS, rng.randint(1, 3))
                if method == "GET":
                    values = [
                        v for v in NASTY_VALUES if not isinstance(v, list | dict) and v is not None
                    ]
                    params = {f: str(rng.choice(values)) for f in [*fields, "first", "after"]}
                    response = raw.get(url, params=params, headers=headers)
                else:
                    body = {f: rng.choice(NASTY_VALUES) for f in fields}
                    response = raw.request(method, url, json=body, headers=headers)
                statuses.append(response.status_code)
                assert response.status_code < 500, (
                    method,
                    path,
                    response.request.content,
                    response.text,
                )
            for content in RAW_BODIES:
                response = raw.request(method, url, content=content, headers=headers)
                assert response.status_code < 500, (method, path, content[:40], response.text)
                if method != "GET":
                    assert 400 <= response.status_code < 500, (
                        method,
                        path,
                        content[:40],
                        response.text,
                    )
    assert raw.get("/_emulator/health").json() == {"ok": True}
    assert any(400 <= s < 500 for s in statuses)
