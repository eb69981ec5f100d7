"""Constants and assertions shared by the emulator tests.

Not in conftest.py: ``tests/conftest.py`` and other directories' conftest modules share the
module name ``conftest``, so ``from conftest import …`` picks whichever pytest loaded last.
"""

from __future__ import annotations

from typing import Any

import httpx

from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID

COMPANY = DEFAULT_COMPANY_ID
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    """The Whop error envelope, with the given status and type; returns ``error``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["type"] == error_type, error
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"type", "message", "param", "code"}
    return error
