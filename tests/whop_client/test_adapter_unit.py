"""dm_bridge's adapter over the official SDK, against httpx.MockTransport.

What goes on the wire (headers, no SDK retries, Idempotency-Key), the order of pacing, the
attempt hook and the request, and how every SDK failure is classified by the one table.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from whop_sdk.types import DmChannel

import dm_bridge
from dm_bridge.exceptions import DmBridgeError
from dm_bridge.whop import (
    WhopAdapter,
    WhopAPIError,
    WhopAuthenticationError,
    WhopBadRequestError,
    WhopConflictError,
    WhopConnectionError,
    WhopError,
    WhopNotFoundError,
    WhopPermissionError,
    WhopRateLimitError,
    WhopServerError,
    WhopTimeoutError,
    WhopValidationError,
    parse_retry_after,
)

API_KEY = "apik_unit_SECRET_9f8e7d6c5b4a"
BASE = "https://whop.test/api/v1"
CHANNEL = {"id": "feed_1", "created_at": "1767225600000", "last_message_at": None, "name": "Pair"}
MEMBER = {
    "id": "dmm_1",
    "channel_id": "feed_1",
    "user_id": "user_a",
    "last_viewed_at": None,
    "status": "accepted",
}


class Recorder:
    """A MockTransport handler that records requests and answers with a scripted response."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


class FakePacer:
    """Records the limiter calls, and the events around them, in order."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.blocked: list[tuple[str, float]] = []

    def wait_for_slot(self, operation: str) -> None:
        self.events.append(f"slot {operation}")

    def block(self, operation: str, seconds: float) -> None:
        self.blocked.append((operation, seconds))


def make(respond, **options) -> tuple[WhopAdapter, Recorder, FakePacer, list[str]]:
    events: list[str] = []
    recorder = Recorder(lambda request: (events.append("request"), respond(request))[1])
    pacer = FakePacer(events)
    adapter = WhopAdapter.build(
        API_KEY, base_url=BASE, transport=httpx.MockTransport(recorder), pacer=pacer, **options
    )
    return adapter, recorder, pacer, events


def ok(body: object = None, status: int = 200):
    return lambda request: httpx.Response(status, json=CHANNEL if body is None else body)


def error(status: int, body: object = None, headers: dict | None = None, text: str | None = None):
    def respond(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return respond


def raising(exc_class: type[httpx.RequestError]):
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc_class("simulated", request=request)

    return respond


# --- the wire ----------------------------------------------------------------------------------
def test_headers_sent():
    whop, rec, _, _ = make(ok())
    channel = whop.dm_channels.retrieve("feed_1")
    assert isinstance(channel, DmChannel) and channel.name == "Pair"  # the SDK's own model
    headers = rec.last.headers
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["api-version-date"] == "2026-10-15-1"
    assert headers["user-agent"] == f"dm-bridge/{dm_bridge.__version__}"
    assert "idempotency-key" not in headers
    assert str(rec.last.url) == f"{BASE}/dm_channels/feed_1"


def test_api_version_and_user_agent_are_settings():
    whop, rec, _, _ = make(ok(), api_version="2027-01-01", user_agent="host/2")
    whop.dm_channels.retrieve("feed_1")
    assert rec.last.headers["api-version-date"] == "2027-01-01"
    assert rec.last.headers["user-agent"] == "host/2"


def test_create_sends_the_sdk_body_and_the_idempotency_key():
    whop, rec, _, _ = make(ok())
    whop.dm_channels.create(
        with_user_ids=["user_a", "user_b"], account_id="biz_1", idempotency_key="dmb_abc"
    )
    assert rec.last.method == "POST"
    assert json.loads(rec.last.content) == {
        "with_user_ids": ["user_a", "user_b"],
        "account_id": "biz_1",
    }
    assert rec.last.headers["idempotency-key"] == "dmb_abc"


def test_pacing_then_hook_then_request():
    whop, _, pacer, events = make(ok({**MEMBER, "notification_preference": "all"}))
    whop.dm_members.create(
        channel_id="feed_1", user_id="user_a", before_send=lambda: events.append("attempt")
    )
    assert events == ["slot dm_members.create", "attempt", "request"]
    assert pacer.blocked == []


def test_hook_runs_even_when_the_request_fails():
    whop, _, _, events = make(raising(httpx.ReadTimeout))
    with pytest.raises(WhopTimeoutError):
        whop.messages.create(
            channel_id="feed_1", content="hi", before_send=lambda: events.append("attempt")
        )
    assert events == ["slot messages.create", "attempt", "request"]


def test_default_client_settings():
    whop = WhopAdapter.build(API_KEY, base_url=BASE)
    http = whop.sdk._client_wrapper.httpx_client.httpx_client
    assert http._transport._pool._retries == 0
    assert http.timeout == httpx.Timeout(15.0, connect=5.0)
    assert http.follow_redirects is False
    assert whop.sdk._client_wrapper.get_max_retries() == 0
    whop.close()
    assert http.is_closed


def test_empty_api_key_is_rejected():
    with pytest.raises(ValueError):
        WhopAdapter.build("  ", base_url=BASE)


# --- pagination --------------------------------------------------------------------------------
def pages(*cursors: str | None):
    """Member pages whose end cursors are ``cursors`` in order (None = last page)."""
    state = {"n": 0}

    def respond(request: httpx.Request) -> httpx.Response:
        n = state["n"]
        state["n"] += 1
        cursor = cursors[n]
        member = {**MEMBER, "id": f"dmm_{n}", "user_id": f"user_{n}"}
        return httpx.Response(
            200,
            json={
                "data": [member],
                "page_info": {
                    "end_cursor": cursor,
                    "start_cursor": f"s{n}",
                    "has_next_page": cursor is not None,
                    "has_previous_page": n > 0,
                },
            },
        )

    return respond


def test_every_page_is_paced_and_follows_the_cursor():
    whop, rec, _, events = make(pages("c1", "c2", None))
    users = [m.user_id for m in whop.dm_members.list(channel_id="feed_1", first=1)]
    assert users == ["user_0", "user_1", "user_2"]
    assert events == ["slot dm_members.list", "request"] * 3
    assert [r.url.params.get("after") for r in rec.requests] == [None, "c1", "c2"]


def test_a_repeating_cursor_is_refused():
    whop, rec, _, _ = make(pages("c1", "c1", "c1", None))
    with pytest.raises(WhopError, match="repeated"):
        list(whop.dm_members.list(channel_id="feed_1"))
    assert len(rec.requests) == 2


def test_a_failing_next_page_is_classified():
    state = {"n": 0}

    def respond(request: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] == 1:
            return pages("c1")(request)
        return httpx.Response(503, json={"error": {"type": "server_error", "message": "down"}})

    whop, _, _, _ = make(respond)
    with pytest.raises(WhopServerError) as info:
        list(whop.dm_members.list(channel_id="feed_1"))
    assert info.value.operation == "dm_members.list"


# --- the classification table ------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, exc_class, builtin, retryable, ambiguous",
    [
        (400, WhopBadRequestError, None, False, False),
        (401, WhopAuthenticationError, None, False, False),
        (403, WhopPermissionError, PermissionError, False, False),
        (404, WhopNotFoundError, LookupError, False, False),
        (408, WhopAPIError, None, True, False),
        (409, WhopConflictError, None, True, False),
        (410, WhopAPIError, None, False, False),
        (422, WhopValidationError, ValueError, False, False),
        (429, WhopRateLimitError, None, True, False),
        (500, WhopServerError, None, True, True),
        (502, WhopServerError, None, True, True),
        (503, WhopServerError, None, True, True),
        (599, WhopServerError, None, True, True),
    ],
)
def test_status_mapping(status, exc_class, builtin, retryable, ambiguous):
    body = {"error": {"type": "some_type", "message": "Nope", "code": "c1", "param": "p1"}}
    whop, rec, _, _ = make(error(status, body))
    with pytest.raises(exc_class) as info:
        whop.dm_channels.create(with_user_ids=["user_a"])
    exc = info.value
    assert type(exc) is exc_class
    assert isinstance(exc, WhopAPIError) and isinstance(exc, DmBridgeError)
    if builtin:
        assert isinstance(exc, builtin)
    assert exc.status == status
    assert (exc.error_type, exc.message, exc.code, exc.param) == ("some_type", "Nope", "c1", "p1")
    assert (exc.retryable, exc.ambiguous) == (retryable, ambiguous)
    assert exc.operation == "dm_channels.create"
    assert str(exc) == f"dm_channels.create → {status} some_type: Nope"
    assert len(rec.requests) == 1  # the SDK's own retries (409, 429, 5xx) are off


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "<html><body>Bad Gateway from the edge</body></html>"},
        {"body": {"unexpected": "shape"}},
        {"body": {"error": "just a string"}},
        {"body": {"error": {"message": None, "type": 5}}},
        {"body": ["a", "list"]},
        {"text": ""},
    ],
)
def test_tolerant_error_envelope(kwargs):
    whop, _, _, _ = make(error(502, **kwargs))
    with pytest.raises(WhopServerError) as info:
        whop.dm_channels.retrieve("feed_1")
    assert info.value.status == 502 and info.value.message
    assert info.value.retryable and info.value.ambiguous


def test_error_string_and_html_messages_are_kept():
    whop, _, _, _ = make(error(400, {"error": "bad thing"}))
    with pytest.raises(WhopBadRequestError, match="bad thing"):
        whop.dm_channels.retrieve("feed_1")
    whop, _, _, _ = make(error(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(WhopServerError, match="Bad Gateway"):
        whop.dm_channels.retrieve("feed_1")


def test_a_success_that_does_not_fit_the_model_is_ambiguous_not_retryable():
    whop, _, _, _ = make(ok({"id": "feed_1"}))  # created_at is required by the SDK's model
    with pytest.raises(WhopAPIError) as info:
        whop.dm_channels.create(with_user_ids=["user_a"])
    assert (info.value.retryable, info.value.ambiguous) == (False, True)
    assert "created_at" in info.value.message


def test_a_success_that_is_not_json_is_ambiguous():
    whop, _, _, _ = make(lambda request: httpx.Response(200, text="<html>ok</html>"))
    with pytest.raises(WhopAPIError) as info:
        whop.dm_channels.create(with_user_ids=["user_a"])
    assert (info.value.status, info.value.retryable, info.value.ambiguous) == (200, False, True)


@pytest.mark.parametrize(
    "headers, message, expected",
    [
        ({"Retry-After": "7"}, "", 7.0),
        ({"retry-after-ms": "1500"}, "", 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, "", 0.25),
        ({}, "Try again in 12 seconds.", 12.0),
        ({"Retry-After": "3"}, "Try again in 12 seconds.", 3.0),
    ],
)
def test_429_retry_after_and_the_pacer_is_told(headers, message, expected):
    body = {"error": {"type": "rate_limit_exceeded", "message": message or "Slow down"}}
    whop, _, pacer, _ = make(error(429, body, headers=headers))
    with pytest.raises(WhopRateLimitError) as info:
        whop.dm_channels.create(with_user_ids=["user_a"])
    assert info.value.retry_after == pytest.approx(expected)
    assert pacer.blocked == [("dm_channels.create", pytest.approx(expected))]


def test_retry_after_on_503_is_kept_and_the_pacer_not_blocked():
    whop, _, pacer, _ = make(
        error(503, {"error": {"message": "busy"}}, headers={"Retry-After": "4"})
    )
    with pytest.raises(WhopServerError) as info:
        whop.dm_channels.retrieve("feed_1")
    assert info.value.retry_after == 4.0
    assert pacer.blocked == []


def test_parse_retry_after():
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after({"Retry-After": future}) <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": past}) == 0.0
    assert parse_retry_after({"Retry-After": "nan"}) is None
    assert parse_retry_after({"retry-after-ms": "soon"}, "try again in 2.5 seconds") == 2.5
    assert parse_retry_after(None, None) is None


@pytest.mark.parametrize(
    "httpx_exc, exc_class, ambiguous",
    [
        (httpx.ConnectError, WhopConnectionError, False),
        (httpx.ConnectTimeout, WhopTimeoutError, False),
        (httpx.PoolTimeout, WhopTimeoutError, False),
        (httpx.ReadTimeout, WhopTimeoutError, True),
        (httpx.WriteTimeout, WhopTimeoutError, True),
        (httpx.RemoteProtocolError, WhopConnectionError, True),
        (httpx.ReadError, WhopConnectionError, True),
        (httpx.WriteError, WhopConnectionError, True),
    ],
)
def test_transport_failures(httpx_exc, exc_class, ambiguous):
    whop, rec, _, _ = make(raising(httpx_exc))
    with pytest.raises(exc_class) as info:
        whop.dm_channels.create(with_user_ids=["user_a"])
    exc = info.value
    assert (exc.retryable, exc.ambiguous, exc.status) == (True, ambiguous, None)
    assert exc.operation == "dm_channels.create"
    assert httpx_exc.__name__ in str(exc)
    assert isinstance(exc.__cause__, httpx_exc)
    assert len(rec.requests) == 1  # the SDK retries ConnectError/RemoteProtocolError by default


def test_a_bug_on_our_side_is_not_a_whop_error():
    whop, rec, _, _ = make(ok())
    with pytest.raises(TypeError):
        whop.dm_channels.create(with_user_ids=["user_a"], no_such_argument=1)
    assert rec.requests == []


def test_exceptions_pickle_with_their_attributes():
    body = {"error": {"type": "rate_limit_exceeded", "message": "Try again in 5 seconds."}}
    whop, _, _, _ = make(error(429, body))
    with pytest.raises(WhopRateLimitError) as info:
        whop.dm_channels.retrieve("feed_1")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is WhopRateLimitError
    assert (clone.status, clone.retry_after, clone.retryable, clone.operation) == (
        429,
        5.0,
        True,
        "dm_channels.retrieve",
    )
    assert str(clone) == str(info.value)


# --- secrets -----------------------------------------------------------------------------------
def test_api_key_never_leaks(caplog):
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"type": "unauthorized", "message": f"Invalid key {API_KEY}"}}
    whop, _, _, _ = make(error(401, echo))
    assert API_KEY not in repr(whop) and API_KEY not in str(whop)
    assert repr(whop) == f"WhopAdapter(base_url={BASE!r})"
    with pytest.raises(WhopAuthenticationError) as info:
        whop.dm_channels.retrieve("feed_1")
    exc = info.value
    for text in (str(exc), repr(exc), exc.message, *map(str, exc.args)):
        assert API_KEY not in text
    assert "[redacted]" in exc.message

    whop2, _, _, _ = make(raising(httpx.ReadTimeout))
    with pytest.raises(WhopTimeoutError) as info2:
        whop2.dm_channels.retrieve("feed_1")
    assert API_KEY not in str(info2.value) and API_KEY not in repr(info2.value)

    assert caplog.records, "expected DEBUG log lines"
    assert API_KEY not in caplog.text
    assert "Bearer" not in caplog.text


def test_debug_log_line(caplog):
    caplog.set_level(logging.DEBUG, logger="dm_bridge.whop")
    whop, _, _, _ = make(ok())
    whop.dm_channels.create(with_user_ids=["user_a"], custom_name="private title")
    records = [r for r in caplog.records if r.name == "dm_bridge.whop"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert line.startswith("whop dm_channels.create -> ok in ") and line.endswith(" ms")
    assert "private title" not in line  # no bodies
    caplog.clear()
    whop2, _, _, _ = make(raising(httpx.ConnectError))
    with pytest.raises(WhopConnectionError):
        whop2.dm_channels.retrieve("feed_9")
    assert (
        caplog.records[-1].getMessage().startswith("whop dm_channels.retrieve -> ConnectError in ")
    )
