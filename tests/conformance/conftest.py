"""Fixtures for the SDK conformance suite: Whop's official Python SDK against the emulator.

Every answer the SDK receives during a test is recorded and, when the test ends, checked
against the SDK model for that endpoint (see ``sdk_conformance.RESPONSE_MODELS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sdk_conformance import ACCOUNT, Recorder, sdk_client
from whop_sdk import Whop

from dm_bridge.testing import DEFAULT_API_KEY, EmulatorProcess
from dm_bridge.whop import WhopAdapter


@pytest.fixture
def recorder(emulator: EmulatorProcess) -> Iterator[Recorder]:
    rec = Recorder(emulator.api_url)
    yield rec
    try:
        rec.verify_all()
    finally:
        rec.close()


@pytest.fixture(params=["sdk", "dm_bridge adapter"])
def sdk_as(
    request: pytest.FixtureRequest, emulator: EmulatorProcess, recorder: Recorder
) -> Callable[[str], Any]:
    """``sdk_as(token)``: a client with that credential (API key or access token).

    Every test runs twice: with the bare SDK, and with the same SDK inside dm_bridge's
    adapter, so both sides are held to Whop's contract rather than to each other.
    """
    if request.param == "sdk":
        return lambda token: sdk_client(emulator.api_url, token, recorder)
    return lambda token: WhopAdapter(sdk_client(emulator.api_url, token, recorder))


@pytest.fixture
def sdk(sdk_as: Callable[[str], Any]) -> Whop:
    """The SDK with the account's API key."""
    return sdk_as(DEFAULT_API_KEY)


@pytest.fixture
def people(emulator: EmulatorProcess) -> dict[str, dict[str, Any]]:
    """alice, bob, carol, dave: seeded users by username."""
    names = ("alice", "bob", "carol", "dave")
    seeded = emulator.seed(
        users=[{"username": n, "name": n.title(), "email": f"{n}@example.test"} for n in names]
    )["users"]
    return dict(zip(names, seeded, strict=True))


@pytest.fixture
def user_sdk(sdk: Whop, sdk_as: Callable[[str], Any]) -> Callable[..., Whop]:
    """``user_sdk(user_id, scoped_actions=None)``: the SDK acting as a user, with a token minted
    through ``access_tokens.create`` (all DM scopes unless ``scoped_actions`` is given)."""

    def make(user_id: str, scoped_actions: list[str] | None = None) -> Whop:
        scopes = scoped_actions or ["dms:read", "dms:message:manage", "dms:channel:manage"]
        token = sdk.access_tokens.create(account_id=ACCOUNT, user_id=user_id, scoped_actions=scopes)
        return sdk_as(token.token)

    return make
