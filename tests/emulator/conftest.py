"""Helpers for the emulator tests: clients for the REST API and small factories.

Everything goes over real HTTP to the emulator process started by ``dm_bridge.testing``.
All clients share one transport: building an httpx client from scratch costs tens of ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from emulator_support import AUTH, COMPANY

from dm_bridge.testing import EmulatorProcess


@pytest.fixture(scope="session")
def transport() -> Iterator[httpx.HTTPTransport]:
    shared = httpx.HTTPTransport(limits=httpx.Limits(max_connections=100))
    yield shared
    shared.close()


@pytest.fixture
def make_client(transport: httpx.HTTPTransport) -> Callable[..., httpx.Client]:
    """``make_client(base_url, headers=..., timeout=...)`` on the shared transport.

    Not closed one by one: closing a client would close the shared transport.
    """

    def make(
        base_url: str = "", *, headers: dict[str, str] | None = None, timeout: float = 10
    ) -> httpx.Client:
        return httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    return make


@pytest.fixture
def api(emulator: EmulatorProcess, make_client: Callable[..., httpx.Client]) -> httpx.Client:
    """A client authenticated with the company API key."""
    return make_client(emulator.api_url, headers=AUTH)


@pytest.fixture
def anonymous(emulator: EmulatorProcess, make_client: Callable[..., httpx.Client]) -> httpx.Client:
    return make_client(emulator.api_url)


@pytest.fixture
def raw(emulator: EmulatorProcess, make_client: Callable[..., httpx.Client]) -> httpx.Client:
    """No credentials, rooted at the emulator (paths include /api/v1 or /_emulator)."""
    return make_client(emulator.url)


@pytest.fixture
def users(emulator: EmulatorProcess) -> Callable[..., list[dict[str, Any]]]:
    """``users("alice", "bob")`` seeds users by username and returns them (Whop-shaped)."""

    def make(*usernames: str) -> list[dict[str, Any]]:
        specs = [
            {"username": name, "name": name.title(), "email": f"{name}@example.test"}
            for name in usernames
        ]
        return emulator.seed(users=specs)["users"]

    return make


@pytest.fixture
def token_for(api: httpx.Client) -> Callable[..., str]:
    """``token_for(user_id, scoped_actions=[...])`` mints a user access token."""

    def mint(user_id: str, **body: Any) -> str:
        response = api.post(
            "/access_tokens", json={"company_id": COMPANY, "user_id": user_id, **body}
        )
        assert response.status_code == 200, response.text
        return response.json()["token"]

    return mint


@pytest.fixture
def client_for(
    emulator: EmulatorProcess,
    token_for: Callable[..., str],
    make_client: Callable[..., httpx.Client],
) -> Callable[..., httpx.Client]:
    """``client_for(user_id)`` is an httpx client acting as that user (all DM scopes)."""

    def make(user_id: str, **token_body: Any) -> httpx.Client:
        token = token_for(user_id, **token_body)
        return make_client(emulator.api_url, headers={"Authorization": f"Bearer {token}"})

    return make
