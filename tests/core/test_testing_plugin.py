"""``dm_bridge_whop`` (dm_bridge.testing): what a host's test gets, used as docs/testing.md shows.

These tests are marked only ``django_db``, like a host's: the fixture itself makes the commits
real, so ``open_dm`` → active happens inside the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from dm_bridge import services
from dm_bridge.models import DmChannel
from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID, EmulatorProcess

pytestmark = pytest.mark.django_db


def test_open_dm_is_active_inside_the_test(dm_bridge_whop: EmulatorProcess, make_user: Any):
    buyer, seller = make_user("buyer"), make_user("seller")
    channel = services.open_dm("booking:1", [buyer, seller], context_message="About booking 1")
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE
    assert channel.whop_channel_id.startswith("feed_")
    (create,) = dm_bridge_whop.requests("dm_channels.create")
    assert create["status"] == 200 and create["subject"] == f"company:{DEFAULT_COMPANY_ID}"
    assert len(create["body"]["with_user_ids"]) == 2  # as docs/testing.md shows
    (message,) = dm_bridge_whop.requests("messages.create")
    assert message["body"]["content"] == "About booking 1"


def test_faults_are_at_hand(dm_bridge_whop: EmulatorProcess, make_user: Any):
    dm_bridge_whop.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("booking:2", [make_user("a"), make_user("b")])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED
    assert channel.last_error.startswith("The API key lacks a permission for this call")


def test_settings_are_hermetic_but_keep_the_hosts_own(
    dm_bridge_whop: EmulatorProcess, settings: Any
):
    dm = settings.DM_BRIDGE
    assert dm["API_KEY"] == DEFAULT_API_KEY and dm["COMPANY_ID"] == DEFAULT_COMPANY_ID
    assert dm["BASE_URL"] == dm_bridge_whop.api_url
    assert dm["ELEMENTS_URL"] == dm_bridge_whop.elements_url
    assert dm["TASKS_ENABLED"] is False and dm["REDIS_URL"] == ""  # no broker, no shared Redis
    assert dm["POLICY"] == "marketplace.dm_policy.MarketplacePolicy"  # the host's key stays


def test_each_test_starts_from_an_empty_emulator(dm_bridge_whop: EmulatorProcess):
    assert dm_bridge_whop.requests() == []
    assert DmChannel.objects.count() == 0
