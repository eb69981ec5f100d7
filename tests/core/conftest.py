"""Fixtures for the operator-facing tests (admin, checks, commands).

``whop`` (dm_bridge on a freshly reset emulator, work inline after commit) and ``make_user``
come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dm_bridge.testing import DEFAULT_API_KEY, EmulatorProcess


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def whop_api(emulator: EmulatorProcess) -> Iterator[httpx.Client]:
    """A plain httpx client on the emulator's API with the app's key (to look at Whop directly)."""
    with httpx.Client(
        base_url=emulator.api_url,
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
        timeout=10,
    ) as client:
        yield client
