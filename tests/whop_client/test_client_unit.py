"""WhopClient against httpx.MockTransport: what goes on the wire, and how failures are classified."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

import dm_bridge
from dm_bridge.exceptions import DmBridgeError
from dm_bridge.whop import (
    AccessToken,
    Company,
    DmChannel,
    DmMember,
    Message,
    Page,
    User,
    WhopAPIError,
    WhopAuthenticationError,
    WhopBadRequestError,
    WhopClient,
    WhopConflictError,
    WhopConnectionError,
    WhopError,
    WhopNotFoundError,
    WhopPermissionError,
    WhopRateLimitError,
    WhopServerError,
    WhopTimeoutError,
    WhopValidationError,
)
from dm_bridge.whop.errors import parse_retry_after

API_KEY = "apik_unit_SECRET_9f8e7d6c5b4a"
BASE = "https://whop.test/api/v1"

CHANNEL = {"id": "feed_1", "created_at": "1767225600000", "last_message_at": None, "name": "Pair"}


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

    def last_json(self) -> dict:
        return json.loads(self.last.content)


def make_client(
    respond: Callable[[httpx.Request], httpx.Response], **kwargs
) -> tuple[WhopClient, Recorder]:
    recorder = Recorder(respond)
    client = WhopClient(API_KEY, base_url=BASE, transport=httpx.MockTransport(recorder), **kwargs)
    return client, recorder


def ok(body: object = None, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
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
    client, rec = make_client(ok())
    client.retrieve_dm_channel("feed_1")
    headers = rec.last.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Api-Version-Date"] == "2026-10-15-1"
    assert headers["User-Agent"] == f"dm-bridge/{dm_bridge.__version__}"
    assert headers["Accept"] == "application/json"
    assert str(rec.last.url) == f"{BASE}/dm_channels/feed_1"


def test_custom_user_agent_and_version():
    client, rec = make_client(ok(), user_agent="marketplace/2", api_version="2025-01-01")
    client.retrieve_dm_channel("feed_1")
    assert rec.last.headers["User-Agent"] == "marketplace/2"
    assert rec.last.headers["Api-Version-Date"] == "2025-01-01"


def test_base_url_trailing_slash_is_harmless():
    rec = Recorder(ok())
    client = WhopClient(API_KEY, base_url=BASE + "/", transport=httpx.MockTransport(rec))
    client.list_dm_channels()
    assert rec.last.url.path == "/api/v1/dm_channels"


def test_create_dm_channel_sends_account_id_and_omits_unset_fields():
    client, rec = make_client(ok())
    channel = client.create_dm_channel(["user_a", "user_b"], company_id="biz_1")
    assert rec.last.method == "POST"
    assert rec.last.url.path == "/api/v1/dm_channels"
    assert rec.last_json() == {"with_user_ids": ["user_a", "user_b"], "account_id": "biz_1"}
    assert rec.last.headers["Content-Type"] == "application/json"
    assert channel.id == "feed_1"

    client.create_dm_channel(("user_a",), custom_name="Deal", notifications_enabled=False)
    assert rec.last_json() == {
        "with_user_ids": ["user_a"],
        "custom_name": "Deal",
        "notifications_enabled": False,
    }


def test_create_dm_channel_rejects_a_bare_string():
    client, rec = make_client(ok())
    with pytest.raises(TypeError):
        client.create_dm_channel("user_a")
    assert rec.requests == []


def test_update_dm_channel_can_clear_name():
    client, rec = make_client(ok())
    client.update_dm_channel("feed_1", custom_name=None)
    assert rec.last.method == "PATCH"
    assert rec.last_json() == {"custom_name": None}


def test_list_params_use_account_id_and_omit_unset():
    page_body = {"data": [CHANNEL], "page_info": {"end_cursor": "c1", "has_next_page": True}}
    client, rec = make_client(ok(page_body))
    page = client.list_dm_channels(company_id="biz_1", first=10, after="c0")
    assert dict(rec.last.url.params) == {"account_id": "biz_1", "first": "10", "after": "c0"}
    assert isinstance(page, Page)
    assert [c.id for c in page.data] == ["feed_1"]
    assert page.page_info.end_cursor == "c1" and page.page_info.has_next_page

    client.list_dm_channels()
    assert dict(rec.last.url.params) == {}


def test_list_companies_keeps_parent_company_id():
    client, rec = make_client(ok({"data": [], "page_info": {}}))
    client.list_companies(parent_company_id="biz_p", last=5, before="c9")
    assert dict(rec.last.url.params) == {"parent_company_id": "biz_p", "last": "5", "before": "c9"}


def test_message_calls():
    message = {
        "id": "msg_1",
        "content": "hi",
        "user": {"id": "user_a", "name": "A", "username": "a"},
    }
    client, rec = make_client(ok(message))
    client.create_message("feed_1", "hi")
    assert rec.last_json() == {"channel_id": "feed_1", "content": "hi"}
    client.create_message(
        "feed_1", "re", replying_to_message_id="msg_0", attachments=[{"id": "att_1"}]
    )
    assert rec.last_json() == {
        "channel_id": "feed_1",
        "content": "re",
        "replying_to_message_id": "msg_0",
        "attachments": [{"id": "att_1"}],
    }
    client.update_message("msg_1", is_pinned=True)
    assert rec.last.method == "PATCH" and rec.last_json() == {"is_pinned": True}
    client.list_messages("feed_1", direction="desc", first=2)
    assert dict(rec.last.url.params) == {"channel_id": "feed_1", "direction": "desc", "first": "2"}


def test_member_and_user_calls():
    client, rec = make_client(ok({"id": "x"}))
    client.create_dm_member("feed_1", "user_b")
    assert rec.last_json() == {"channel_id": "feed_1", "user_id": "user_b"}
    client.update_dm_member("dmm_1", status="hidden")
    assert rec.last_json() == {"status": "hidden"}
    client.list_dm_members("feed_1")
    assert dict(rec.last.url.params) == {"channel_id": "feed_1"}
    client.retrieve_user("user_a", company_id="biz_1")
    assert dict(rec.last.url.params) == {"account_id": "biz_1"}
    client.update_user("user_a", company_id="biz_1", name="Ann")
    assert rec.last_json() == {"account_id": "biz_1", "name": "Ann"}
    client.list_users(query="ann")
    assert dict(rec.last.url.params) == {"query": "ann"}


def test_create_company_body():
    client, rec = make_client(ok({"id": "biz_c", "owner_user": {"id": "user_o"}}))
    company = client.create_company(
        email="a@example.com",
        parent_company_id="biz_p",
        title="Ann",
        metadata={"internal_user_id": "7"},
    )
    assert rec.last_json() == {
        "email": "a@example.com",
        "parent_company_id": "biz_p",
        "title": "Ann",
        "send_customer_emails": False,
        "metadata": {"internal_user_id": "7"},
    }
    assert company.owner_user is not None and company.owner_user.id == "user_o"


def test_create_access_token_body():
    client, rec = make_client(ok({"token": "jwt.abc.def", "expires_at": "2026-01-01T01:00:00Z"}))
    expires = datetime(2026, 1, 1, 2, 0, tzinfo=UTC) + timedelta(hours=-1)
    token = client.create_access_token(
        user_id="user_a", company_id="biz_1", scoped_actions=["dms:read"], expires_at=expires
    )
    assert rec.last_json() == {
        "user_id": "user_a",
        "account_id": "biz_1",
        "scoped_actions": ["dms:read"],
        "expires_at": "2026-01-01T01:00:00Z",
    }
    assert token.token == "jwt.abc.def"
    assert token.expires_at == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    assert "jwt.abc.def" not in repr(token)

    client.create_access_token(user_id="user_a", company_id="biz_1", scoped_actions=["dms:read"])
    assert "expires_at" not in rec.last_json()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"scoped_actions": []}, ValueError),  # empty could mean "all permissions"
        ({"scoped_actions": "dms:read"}, TypeError),
        ({"scoped_actions": ["dms:read"], "expires_at": datetime(2026, 1, 1)}, ValueError),  # naive
    ],
)
def test_create_access_token_guards(kwargs, error):
    client, rec = make_client(ok())
    with pytest.raises(error):
        client.create_access_token(user_id="user_a", company_id="biz_1", **kwargs)
    assert rec.requests == []


def test_delete_returns_none():
    client, rec = make_client(ok(True))
    assert client.delete_dm_channel("feed_1") is None
    assert rec.last.method == "DELETE"
    assert client.delete_dm_member("dmm_1") is None
    assert client.delete_message("msg_1") is None


def test_path_ids_are_quoted():
    client, rec = make_client(ok())
    client.retrieve_dm_channel("feed/../x?y=1#z")
    assert rec.last.url.raw_path == b"/api/v1/dm_channels/feed%2F..%2Fx%3Fy%3D1%23z"
    assert dict(rec.last.url.params) == {}


@pytest.mark.parametrize("bad", ["", "   ", ".", ".."])
def test_empty_path_ids_are_rejected(bad):
    client, rec = make_client(ok())
    for call in (
        client.retrieve_dm_channel,
        client.delete_dm_channel,
        client.retrieve_dm_member,
        client.delete_dm_member,
        client.retrieve_message,
        client.delete_message,
        client.retrieve_user,
        client.retrieve_company,
    ):
        with pytest.raises(ValueError):
            call(bad)
    with pytest.raises(ValueError):
        client.update_dm_channel(bad, custom_name="x")
    assert rec.requests == []


def test_empty_api_key_is_rejected():
    with pytest.raises(ValueError):
        WhopClient("")


def test_context_manager_closes():
    client, _ = make_client(ok())
    with client as entered:
        assert entered is client
    assert client._http.is_closed


# --- pagination --------------------------------------------------------------------------------
def test_iterator_follows_cursors():
    pages = {
        None: {
            "data": [{"id": "feed_1"}, {"id": "feed_2"}],
            "page_info": {"end_cursor": "c2", "has_next_page": True},
        },
        "c2": {
            "data": [{"id": "feed_3"}],
            "page_info": {"end_cursor": "c3", "has_next_page": False},
        },
    }

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    client, rec = make_client(respond)
    assert [c.id for c in client.iter_dm_channels(company_id="biz_1", page_size=2)] == [
        "feed_1",
        "feed_2",
        "feed_3",
    ]
    assert [dict(r.url.params) for r in rec.requests] == [
        {"account_id": "biz_1", "first": "2"},
        {"account_id": "biz_1", "first": "2", "after": "c2"},
    ]


def test_iterator_refuses_a_repeating_cursor():
    body = {"data": [{"id": "feed_1"}], "page_info": {"end_cursor": "same", "has_next_page": True}}
    client, rec = make_client(ok(body))
    with pytest.raises(WhopError, match="repeated"):
        list(client.iter_dm_channels())
    assert len(rec.requests) == 2


def test_iterator_validates_page_size_eagerly():
    client, _ = make_client(ok())
    with pytest.raises(ValueError):
        client.iter_messages("feed_1", page_size=0)


# --- errors ------------------------------------------------------------------------------------
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
    client, rec = make_client(error(status, body))
    with pytest.raises(exc_class) as info:
        client.create_dm_channel(["user_a"])
    exc = info.value
    assert type(exc) is exc_class
    assert isinstance(exc, WhopAPIError) and isinstance(exc, DmBridgeError)
    if builtin:
        assert isinstance(exc, builtin)
    assert exc.status == status
    assert (exc.error_type, exc.message, exc.code, exc.param) == ("some_type", "Nope", "c1", "p1")
    assert exc.retryable is retryable
    assert exc.ambiguous is ambiguous
    assert exc.operation == "POST /dm_channels"
    assert str(exc) == f"POST /dm_channels → {status} some_type: Nope"
    assert len(rec.requests) == 1  # never retried


def test_error_operation_is_the_path_template():
    client, _ = make_client(
        error(404, {"error": {"type": "not_found", "message": "No such channel"}})
    )
    with pytest.raises(WhopNotFoundError) as info:
        client.retrieve_dm_channel("feed_zzz")
    assert info.value.operation == "GET /dm_channels/{channel_id}"


def test_str_example_from_brief():
    body = {"error": {"type": "invalid_request", "message": "Too many members (max 50)"}}
    client, _ = make_client(error(422, body))
    with pytest.raises(WhopValidationError) as info:
        client.create_dm_member("feed_1", "user_z")
    assert str(info.value) == "POST /dm_members → 422 invalid_request: Too many members (max 50)"


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
    client, _ = make_client(error(502, **kwargs))
    with pytest.raises(WhopServerError) as info:
        client.retrieve_dm_channel("feed_1")
    exc = info.value
    assert exc.status == 502 and exc.retryable and exc.ambiguous
    assert exc.message  # something readable
    assert "GET /dm_channels/{channel_id} → 502" in str(exc)


def test_non_json_error_body_message():
    client, _ = make_client(error(502, text="<html><body>Bad Gateway from the edge</body></html>"))
    with pytest.raises(WhopServerError) as info:
        client.retrieve_dm_channel("feed_1")
    assert info.value.message.startswith("Bad Gateway: ")
    assert "Bad Gateway from the edge" in info.value.message
    assert info.value.error_type is None


def test_error_string_message_kept():
    client, _ = make_client(error(400, {"error": "just a string"}))
    with pytest.raises(WhopBadRequestError, match="just a string"):
        client.retrieve_dm_channel("feed_1")


def test_unusable_success_body():
    client, _ = make_client(lambda r: httpx.Response(200, text="not json"))
    with pytest.raises(WhopAPIError) as info:
        client.create_dm_channel(["user_a"])
    assert info.value.status == 200 and info.value.ambiguous and not info.value.retryable


def test_retry_after_header_seconds():
    body = {"error": {"type": "rate_limit_exceeded", "message": "Slow down."}}
    client, _ = make_client(error(429, body, headers={"Retry-After": "7"}))
    with pytest.raises(WhopRateLimitError) as info:
        client.retrieve_dm_channel("feed_1")
    assert info.value.retry_after == 7.0
    assert info.value.retryable and not info.value.ambiguous


def test_retry_after_from_message_text():
    body = {
        "error": {
            "type": "rate_limit_exceeded",
            "message": "Rate limited. Try again in 12 seconds.",
        }
    }
    client, _ = make_client(error(429, body))
    with pytest.raises(WhopRateLimitError) as info:
        client.retrieve_dm_channel("feed_1")
    assert info.value.retry_after == 12.0


def test_retry_after_header_wins_over_text():
    body = {"error": {"message": "Try again in 12 seconds."}}
    client, _ = make_client(error(429, body, headers={"Retry-After": "3"}))
    with pytest.raises(WhopRateLimitError) as info:
        client.retrieve_dm_channel("feed_1")
    assert info.value.retry_after == 3.0


def test_retry_after_on_503():
    client, _ = make_client(
        error(503, {"error": {"message": "down"}}, headers={"Retry-After": "2"})
    )
    with pytest.raises(WhopServerError) as info:
        client.retrieve_dm_channel("feed_1")
    assert info.value.retry_after == 2.0


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past) == 0.0
    assert parse_retry_after("garbage", "try AGAIN in 1 second") == 1.0
    assert parse_retry_after("-5", "Try again in 4 seconds.") == 4.0
    assert parse_retry_after(None, "Try again in 2.5 seconds") == 2.5
    assert parse_retry_after(None, "Try again later") is None
    assert parse_retry_after("nan") is None
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
    client, rec = make_client(raising(httpx_exc))
    with pytest.raises(exc_class) as info:
        client.create_dm_channel(["user_a"])
    exc = info.value
    assert exc.retryable is True
    assert exc.ambiguous is ambiguous
    assert exc.status is None
    assert exc.operation == "POST /dm_channels"
    assert httpx_exc.__name__ in str(exc)
    assert isinstance(exc.__cause__, httpx_exc)
    assert len(rec.requests) == 1  # never retried


def test_timeout_error_is_builtin_timeout():
    client, _ = make_client(raising(httpx.ReadTimeout))
    with pytest.raises(TimeoutError):
        client.retrieve_dm_channel("feed_1")


def test_default_transport_has_no_retries():
    client = WhopClient(API_KEY, base_url=BASE)
    pool = client._http._transport._pool
    assert pool._retries == 0
    assert client._http.timeout == httpx.Timeout(15.0, connect=5.0)
    assert client._http.follow_redirects is False
    client.close()


def test_float_timeout():
    client = WhopClient(API_KEY, base_url=BASE, timeout=2.5)
    assert client._http.timeout == httpx.Timeout(2.5)
    client.close()


def test_exceptions_pickle_with_their_attributes():
    body = {"error": {"type": "rate_limit_exceeded", "message": "Try again in 5 seconds."}}
    client, _ = make_client(error(429, body))
    with pytest.raises(WhopRateLimitError) as info:
        client.retrieve_dm_channel("feed_1")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is WhopRateLimitError
    assert (clone.status, clone.retry_after, clone.retryable, clone.operation) == (
        429,
        5.0,
        True,
        "GET /dm_channels/{channel_id}",
    )
    assert str(clone) == str(info.value)


# --- secrets -----------------------------------------------------------------------------------
def test_api_key_never_leaks(caplog):
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"type": "unauthorized", "message": f"Invalid key {API_KEY}"}}
    client, _ = make_client(error(401, echo))
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    assert repr(client) == f"WhopClient(base_url={BASE!r})"
    with pytest.raises(WhopAuthenticationError) as info:
        client.retrieve_dm_channel("feed_1")
    exc = info.value
    for text in (str(exc), repr(exc), exc.message, *map(str, exc.args)):
        assert API_KEY not in text
    assert "[redacted]" in exc.message

    client2, _ = make_client(raising(httpx.ReadTimeout))
    with pytest.raises(WhopTimeoutError) as info2:
        client2.retrieve_dm_channel("feed_1")
    assert API_KEY not in str(info2.value) and API_KEY not in repr(info2.value)
    assert API_KEY not in repr(info2.value.__cause__.request)

    assert caplog.records, "expected DEBUG log lines"
    assert API_KEY not in caplog.text
    assert "Bearer" not in caplog.text


def test_debug_log_line(caplog):
    caplog.set_level(logging.DEBUG, logger="dm_bridge.whop")
    client, _ = make_client(ok())
    client.create_dm_channel(["user_a"], custom_name="private title")
    records = [r for r in caplog.records if r.name == "dm_bridge.whop"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert records[0].levelno == logging.DEBUG
    assert line.startswith("whop POST /dm_channels -> 200 in ") and line.endswith(" ms")
    assert "private title" not in line  # no bodies

    caplog.clear()
    client2, _ = make_client(raising(httpx.ConnectError))
    with pytest.raises(WhopConnectionError):
        client2.retrieve_dm_channel("feed_9")
    assert (
        caplog.records[-1]
        .getMessage()
        .startswith("whop GET /dm_channels/feed_9 -> ConnectError in ")
    )


# --- types -------------------------------------------------------------------------------------
def test_dm_channel_parsing():
    channel = DmChannel.from_api(
        {
            "id": "feed_1",
            "created_at": "1767225600000",
            "last_message_at": "2026-01-01T00:00:05.5Z",
            "name": None,
        }
    )
    assert channel.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert channel.last_message_at == datetime(2026, 1, 1, 0, 0, 5, 500000, tzinfo=UTC)
    assert channel.name is None
    assert channel.raw["created_at"] == "1767225600000"
    assert "raw" not in repr(channel)


def test_missing_keys_and_garbage_are_tolerated():
    assert DmChannel.from_api({}) == DmChannel(id="")
    bad = DmChannel.from_api(
        {"id": "feed_1", "created_at": "yesterday", "last_message_at": 12, "name": 5}
    )
    assert bad.created_at is None
    assert bad.name == "5"
    assert DmMember.from_api({"last_viewed_at": "not-a-number"}).last_viewed_at is None
    assert DmMember.from_api({"last_viewed_at": None}).last_viewed_at is None
    assert Message.from_api({"user": "oops", "is_edited": "yes"}).user is None
    assert Message.from_api({}).is_edited is False
    assert User.from_api({"profile_picture": None}).profile_picture_url is None
    assert Company.from_api({"metadata": None}).metadata == {}
    assert Company.from_api({"owner_user": None}).owner_user is None
    assert AccessToken.from_api({}).expires_at is None
    assert Page.from_api({}, DmChannel.from_api).data == []
    assert (
        Page.from_api({"data": "x", "page_info": None}, DmChannel.from_api).page_info.has_next_page
        is False
    )
    assert DmChannel.from_api(None).id == ""  # type: ignore[arg-type]
    assert DmChannel.from_api({"created_at": "9" * 40}).created_at is None


def test_member_message_user_company_parsing():
    member = DmMember.from_api(
        {
            "id": "dmm_1",
            "channel_id": "feed_1",
            "user_id": "user_a",
            "last_viewed_at": "1767225600123",
            "notification_preference": "all",
            "status": "accepted",
        }
    )
    assert member.last_viewed_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert (member.notification_preference, member.status) == ("all", "accepted")

    message = Message.from_api(
        {
            "id": "msg_1",
            "content": "**hi**",
            "created_at": "2026-01-01T10:00:00+02:00",
            "updated_at": "2026-01-01T08:00:00",
            "is_edited": True,
            "is_pinned": False,
            "message_type": "regular",
            "user": {"id": "user_a", "name": "Ann", "username": "ann"},
            "replying_to_message_id": None,
            "mentions": [],
        }
    )
    assert message.created_at == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert message.updated_at == datetime(2026, 1, 1, 8, tzinfo=UTC)  # naive taken as UTC
    assert message.user is not None and message.user.username == "ann"
    assert message.channel_id is None
    assert message.raw["mentions"] == []

    user = User.from_api({"id": "user_a", "profile_picture": {"url": "https://img/x.png"}})
    assert user.profile_picture_url == "https://img/x.png"

    company = Company.from_api(
        {
            "id": "biz_c",
            "title": "Ann",
            "owner_user": {"id": "user_o", "name": "Ann", "username": "ann"},
            "metadata": {"internal_user_id": "7"},
            "parent_company_id": "biz_p",
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    assert company.owner_user is not None and company.owner_user.id == "user_o"
    assert company.metadata == {"internal_user_id": "7"}
    assert company.created_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_types_are_frozen():
    channel = DmChannel.from_api(CHANNEL)
    with pytest.raises(AttributeError):
        channel.id = "other"  # type: ignore[misc]
    assert channel == DmChannel.from_api({**CHANNEL, "extra": 1})  # raw is not compared
