"""The Whop client as services use it: built from settings, every call paced by the limiter.

Services never construct ``WhopClient`` themselves; they call ``get_client()``, whose methods
reserve a rate-limit slot for their operation before the request and block the operation for
all workers when Whop answers 429 anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from .conf import dm_bridge_settings
from .exceptions import DmBridgeConfigurationError
from .ratelimit import RateLimiter, get_rate_limiter
from .whop import Page, WhopClient, WhopError

# Client method -> Whop operation (the unit of Whop's rate limit, and the emulator's names).
OPERATIONS: dict[str, str] = {
    "create_dm_channel": "dm_channels.create",
    "retrieve_dm_channel": "dm_channels.retrieve",
    "update_dm_channel": "dm_channels.update",
    "list_dm_channels": "dm_channels.list",
    "delete_dm_channel": "dm_channels.delete",
    "create_dm_member": "dm_members.create",
    "retrieve_dm_member": "dm_members.retrieve",
    "update_dm_member": "dm_members.update",
    "list_dm_members": "dm_members.list",
    "delete_dm_member": "dm_members.delete",
    "create_message": "messages.create",
    "retrieve_message": "messages.retrieve",
    "update_message": "messages.update",
    "list_messages": "messages.list",
    "delete_message": "messages.delete",
    "retrieve_user": "users.retrieve",
    "list_users": "users.list",
    "update_user": "users.update",
    "create_company": "companies.create",
    "retrieve_company": "companies.retrieve",
    "list_companies": "companies.list",
    "create_access_token": "access_tokens.create",
}


class PacedWhopClient:
    """Wraps ``WhopClient``: same methods, each paced by the shared rate limiter."""

    def __init__(self, client: WhopClient, limiter: RateLimiter) -> None:
        self.client = client
        self.limiter = limiter

    def __repr__(self) -> str:
        return f"PacedWhopClient({self.client!r})"

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        operation = OPERATIONS.get(name)
        if operation is None:
            if name.startswith("iter_"):
                raise AttributeError(
                    f"use PacedWhopClient.iterate(list_…) instead of {name}: it paces every page"
                )
            return method

        def paced(*args: Any, before_send: Callable[[], None] | None = None, **kwargs: Any) -> Any:
            self.limiter.wait_for_slot(operation)
            if before_send is not None:  # e.g. record the attempt once the call is sure to go out
                before_send()
            try:
                return method(*args, **kwargs)
            except WhopError as exc:
                if exc.status == 429:
                    self.limiter.block(operation, exc.retry_after or 1.0)
                raise

        return paced

    def iterate(
        self, list_method: str, *args: Any, page_size: int = 100, **kwargs: Any
    ) -> Iterator[Any]:
        """Every item of a paginated list, one paced request per page."""
        fetch: Callable[..., Page[Any]] = getattr(self, list_method)
        after = None
        while True:
            page = fetch(*args, first=page_size, after=after, **kwargs)
            yield from page.data
            if not page.page_info.has_next_page or not page.page_info.end_cursor:
                return
            after = page.page_info.end_cursor


_clients: dict[tuple[Any, ...], WhopClient] = {}
_clients_lock = threading.Lock()


def get_client() -> PacedWhopClient:
    """The configured client (one connection pool per process and configuration)."""
    api_key = dm_bridge_settings.API_KEY
    if not api_key:
        raise DmBridgeConfigurationError(
            "DM_BRIDGE['API_KEY'] is not set; dm_bridge cannot call Whop."
        )
    config = (
        api_key,
        dm_bridge_settings.BASE_URL,
        dm_bridge_settings.API_VERSION,
        float(dm_bridge_settings.TIMEOUT),
        float(dm_bridge_settings.CONNECT_TIMEOUT),
    )
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            client = WhopClient(
                api_key,
                base_url=config[1],
                api_version=config[2],
                timeout=httpx.Timeout(config[3], connect=config[4]),
            )
            _clients[config] = client
    return PacedWhopClient(client, get_rate_limiter())
