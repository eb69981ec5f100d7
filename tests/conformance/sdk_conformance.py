"""Checks that the emulator's raw JSON matches Whop's official SDK (whop-sdk 2.6) field for field.

The SDK's pydantic models use ``extra="allow"`` and some required fields are ``Optional`` in
spirit only, so validating is not enough: :func:`missing_required` walks the model (and every
nested model) and reports each required field that is absent or null in the raw JSON.

Not named conftest.py: several test directories have one, and ``import conftest`` would pick
whichever pytest loaded last.
"""

from __future__ import annotations

import contextlib
import re
import threading
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import pytest
from whop_sdk import Whop
from whop_sdk.accounts.types import ListAccountsResponse
from whop_sdk.dm_channels.types import ListDmChannelsResponse
from whop_sdk.dm_members.types import ListDmMembersResponse
from whop_sdk.environment import WhopEnvironment
from whop_sdk.messages.types import ListMessagesResponse
from whop_sdk.reactions.types import ListReactionsResponse
from whop_sdk.types import AccessToken, Account, DmChannel, DmMember, Message, Reaction, User
from whop_sdk.users.types import ListUsersResponse

from dm_bridge.testing import DEFAULT_COMPANY_ID
from dm_bridge.whop import WhopError

ACCOUNT = DEFAULT_COMPANY_ID  # the emulator's default account (of the default API key)


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models an annotation can hold (through Optional/Union/List/Dict/Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal or origin is None:
        return []
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _allows_none(annotation: Any) -> bool:
    """Explicitly nullable (``Optional``). ``Any`` does not count: the SDK types open enums as
    ``Union[Literal[...], Any]``, and a null there is still a missing value."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _allows_none(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_allows_none(arg) for arg in typing.get_args(annotation))
    return annotation is type(None)


def missing_required(model: type[pydantic.BaseModel], raw: Any, path: str = "$") -> list[str]:
    """Every required field of ``model`` (recursively) that is absent or null in ``raw``."""
    if not isinstance(raw, dict):
        return [f"{path} (expected an object, got {type(raw).__name__})"]
    problems: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        where = f"{path}.{key}"
        if key not in raw:
            if info.is_required():
                problems.append(where)
            continue
        value = raw[key]
        if value is None:
            if info.is_required() and not _allows_none(info.annotation):
                problems.append(f"{where} (null)")
            continue
        nested = _models_in(info.annotation)
        if not nested:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            item_path = f"{where}[{index}]" if isinstance(value, list) else where
            if isinstance(item, dict) and len(nested) == 1:
                problems += missing_required(nested[0], item, item_path)
    return problems


def assert_conforms(model: type[pydantic.BaseModel], raw: Any) -> pydantic.BaseModel:
    """``raw`` validates as ``model`` and has every required field (recursively)."""
    parsed = model.model_validate(raw)
    missing = missing_required(model, raw)
    assert not missing, f"{model.__name__} is missing required fields: {missing}"
    return parsed


# What each successful emulator answer must be, by method and path under /api/v1.
RESPONSE_MODELS: list[tuple[str, re.Pattern[str], type[pydantic.BaseModel] | type[bool]]] = [
    (method, re.compile(pattern), model)
    for method, pattern, model in [
        ("POST", r"/dm_channels", DmChannel),
        ("GET", r"/dm_channels", ListDmChannelsResponse),
        ("GET", r"/dm_channels/[^/]+", DmChannel),
        ("PATCH", r"/dm_channels/[^/]+", DmChannel),
        ("POST", r"/dm_members", DmMember),
        ("GET", r"/dm_members", ListDmMembersResponse),
        ("GET", r"/dm_members/[^/]+", DmMember),
        ("PATCH", r"/dm_members/[^/]+", DmMember),
        ("POST", r"/messages", Message),
        ("GET", r"/messages", ListMessagesResponse),
        ("GET", r"/messages/[^/]+", Message),
        ("PATCH", r"/messages/[^/]+", Message),
        ("POST", r"/reactions", Reaction),
        ("GET", r"/reactions", ListReactionsResponse),
        ("GET", r"/reactions/[^/]+", Reaction),
        ("GET", r"/users", ListUsersResponse),
        ("GET", r"/users/[^/]+", User),
        ("PATCH", r"/users/[^/]+", User),
        ("POST", r"/accounts", Account),
        ("GET", r"/accounts", ListAccountsResponse),
        ("GET", r"/accounts/[^/]+", Account),
        ("POST", r"/access_tokens", AccessToken),
        ("DELETE", r"/(dm_channels|dm_members|messages|reactions)/[^/]+", bool),
    ]
]


def model_for(method: str, path: str) -> type[pydantic.BaseModel] | type[bool] | None:
    for want_method, pattern, model in RESPONSE_MODELS:
        if method == want_method and pattern.fullmatch(path):
            return model
    return None


@dataclass
class Exchange:
    method: str
    path: str  # under /api/v1
    status: int
    body: Any


class Recorder:
    """An httpx client for the SDK that keeps every raw exchange (the SDK stays unmodified:
    ``httpx_client`` is one of its constructor options)."""

    def __init__(self, api_url: str) -> None:
        self.prefix = httpx.URL(api_url).path.rstrip("/")
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self.http = httpx.Client(timeout=15, event_hooks={"response": [self._record]})

    def _record(self, response: httpx.Response) -> None:
        response.read()
        path = response.request.url.path.removeprefix(self.prefix)
        body = response.json() if response.content else None
        with self._lock:
            self.exchanges.append(
                Exchange(response.request.method, path, response.status_code, body)
            )

    def last(self, method: str, path: str) -> Any:
        """The raw JSON of the latest ``method path`` answer."""
        for exchange in reversed(self.exchanges):
            if (exchange.method, exchange.path) == (method, path):
                return exchange.body
        raise AssertionError(f"no {method} {path} recorded")

    def verify_all(self) -> int:
        """Check every recorded answer; returns how many successful ones were checked."""
        checked = 0
        for ex in self.exchanges:
            if ex.status >= 400:
                assert set(ex.body) == {"error"}, ex
                assert isinstance(ex.body["error"]["type"], str), ex
                assert isinstance(ex.body["error"]["message"], str), ex
                continue
            model = model_for(ex.method, ex.path)
            assert model is not None, f"no SDK model known for {ex.method} {ex.path}"
            if model is bool:
                assert ex.body is True, ex
            else:
                assert isinstance(model, type) and issubclass(model, pydantic.BaseModel)
                assert_conforms(model, ex.body)
            checked += 1
        return checked

    def close(self) -> None:
        self.http.close()


def sdk_client(api_url: str, token: str, recorder: Recorder) -> Whop:
    """The official client pointed at the emulator, with retries off (dm_bridge decides)."""
    return Whop(
        environment=WhopEnvironment(api=api_url, vault=api_url),
        token=token,
        max_retries=0,
        httpx_client=recorder.http,
    )


class Caught:
    """What :func:`raises` caught: ``value`` is always the SDK's own exception."""

    value: Any = None
    whop_error: Any = None  # dm_bridge's WhopError, when the call went through the adapter


@contextlib.contextmanager
def raises(sdk_error: type[BaseException]) -> Iterator[Caught]:
    """``pytest.raises`` for both sides: the bare SDK raises ``sdk_error``; dm_bridge's adapter
    raises a ``WhopError`` caused by it, whose status must be the SDK error's status."""
    caught = Caught()
    try:
        yield caught
    except WhopError as exc:
        cause = exc.__cause__
        assert isinstance(cause, sdk_error), f"{exc!r} was caused by {cause!r}, not {sdk_error}"
        assert exc.status == cause.status_code, (exc.status, cause.status_code)
        assert exc.retryable is (cause.status_code in (408, 409, 429) or cause.status_code >= 500)
        caught.value, caught.whop_error = cause, exc
    except sdk_error as exc:
        caught.value = exc
    else:
        pytest.fail(f"DID NOT RAISE {sdk_error.__name__}")
