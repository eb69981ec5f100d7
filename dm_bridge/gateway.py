"""The Whop adapter as services use it: built from settings, paced by the shared limiter.

Services never build the SDK themselves; they call ``get_client()``. One SDK (one connection
pool) per process and configuration.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from .conf import dm_bridge_settings
from .exceptions import DmBridgeConfigurationError
from .ratelimit import get_rate_limiter
from .whop import WhopAdapter

_clients: dict[tuple[Any, ...], WhopAdapter] = {}
_clients_lock = threading.Lock()


def get_client() -> WhopAdapter:
    """The configured adapter, paced by the rate limiter of the current settings."""
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
            client = WhopAdapter.build(
                api_key,
                base_url=config[1],
                api_version=config[2],
                timeout=httpx.Timeout(config[3], connect=config[4]),
            )
            _clients[config] = client
    # The limiter follows the settings (REDIS_URL, limits); the SDK and its pool are reused.
    return WhopAdapter(client.sdk, pacer=get_rate_limiter(), redact=(api_key,))
