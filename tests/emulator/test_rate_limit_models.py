"""The emulator's rate-limit models (sliding window, fixed window, token bucket) and 429 styles,
over real HTTP; the unmodified SDK must still recognise every 429 (``TooManyRequestsError``)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from emulator_support import assert_error
from whop_sdk import TooManyRequestsError, Whop
from whop_sdk.environment import WhopEnvironment

from dm_bridge.testing import DEFAULT_API_KEY, EmulatorProcess
from dm_bridge.whop import parse_retry_after


def _sdk(emulator: EmulatorProcess) -> Whop:
    env = WhopEnvironment(api=emulator.api_url, vault=emulator.api_url)
    return Whop(environment=env, token=DEFAULT_API_KEY, max_retries=0)


def _statuses(api: httpx.Client, n: int) -> list[int]:
    return [api.get("/users").status_code for _ in range(n)]


def test_sliding_window_counts_the_trailing_window(emulator, api):
    emulator.set_rate_limit(3, operation="users.list", window_seconds=1.0)
    assert _statuses(api, 4) == [200, 200, 200, 429]
    time.sleep(1.05)
    assert _statuses(api, 4) == [200, 200, 200, 429]
    policy = emulator.control.get("/rate_limits").json()["operations"]["users.list"]
    assert policy == {
        "limit": 3,
        "window_seconds": 1.0,
        "model": "sliding_window",
        "burst": None,
        "style": "header_and_message",
    }


def test_fixed_window_opens_at_the_first_call_and_resets_whole(emulator, api):
    emulator.set_rate_limit(3, operation="users.list", window_seconds=1.0, model="fixed_window")
    assert _statuses(api, 2) == [200, 200]
    time.sleep(0.6)
    assert _statuses(api, 2) == [200, 429]
    limited = api.get("/users")
    assert int(limited.headers["Retry-After"]) == 1  # the window ends in < 0.4 s, rounded up
    time.sleep(0.45)  # the window opened 1 s ago: a new one, all three calls again
    assert _statuses(api, 4) == [200, 200, 200, 429]


def test_token_bucket_bursts_its_size_then_refills_at_the_rate(emulator, api):
    emulator.set_rate_limit(
        10, operation="users.list", window_seconds=1.0, model="token_bucket", burst=4
    )
    assert _statuses(api, 5) == [200, 200, 200, 200, 429]
    time.sleep(0.25)  # 10 per second: two tokens back
    assert _statuses(api, 3) == [200, 200, 429]
    policy = emulator.control.get("/rate_limits").json()["operations"]["users.list"]
    assert (policy["model"], policy["burst"], policy["limit"]) == ("token_bucket", 4, 10)


@pytest.mark.parametrize(
    ("style", "has_header", "has_seconds_in_message"),
    [
        ("header_and_message", True, True),
        ("message_only", False, True),
        ("header_only", True, False),
    ],
)
def test_429_styles_and_the_sdk_still_raises_its_rate_limit_error(
    emulator, api, style, has_header, has_seconds_in_message
):
    emulator.set_rate_limit(1, operation="dm_channels.list", window_seconds=30, style=style)
    assert api.get("/dm_channels").status_code == 200
    response = api.get("/dm_channels")
    error = assert_error(response, 429, "rate_limit_exceeded")
    assert ("Retry-After" in response.headers) is has_header
    assert ("Try again in" in error["message"]) is has_seconds_in_message
    # dm_bridge reads the wait from whichever the style kept.
    wait = parse_retry_after(dict(response.headers), error["message"])
    assert wait is not None and 25 <= wait <= 30

    with pytest.raises(TooManyRequestsError) as info:
        _sdk(emulator).dm_channels.list(account_id="biz_emulator")
    assert info.value.status_code == 429
    assert info.value.body["error"]["type"] == "rate_limit_exceeded"


def test_default_policy_changes_every_operation_and_reset_restores_it(emulator, api):
    answer = emulator.control.post(
        "/rate_limits", json={"limit": 2, "model": "token_bucket", "burst": 2, "window_seconds": 60}
    ).json()
    assert (answer["limit"], answer["per_minute"], answer["model"], answer["burst"]) == (
        2,
        2,
        "token_bucket",
        2,
    )
    assert _statuses(api, 3) == [200, 200, 429]
    assert api.get("/dm_channels").status_code == 200
    emulator.reset()
    limits = emulator.control.get("/rate_limits").json()
    assert (limits["limit"], limits["model"], limits["style"], limits["window_seconds"]) == (
        600,
        "sliding_window",
        "header_and_message",
        60.0,
    )
    assert limits["operations"] == {}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "leaky"}, 422, "model"),
        ({"style": "loud"}, 422, "style"),
        ({"window_seconds": 0}, 422, "window_seconds"),
        ({"window_seconds": "10"}, 400, "window_seconds"),
        ({"burst": 0}, 422, "burst"),
        ({"limit": 1.5}, 400, "limit"),
        ({}, 400, "limit"),
        ({"limit": 5, "operation": "nope.nope"}, 422, "operation"),
    ],
)
def test_bad_policies_are_clear_4xx_and_change_nothing(emulator, body, status, param):
    response = emulator.control.post("/rate_limits", json=body)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param
    assert emulator.control.get("/rate_limits").json()["model"] == "sliding_window"


def test_cli_sets_the_default_policy(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dm_bridge.emulator", "--rate-model", "leaky"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "--rate-model" in proc.stderr
    from dm_bridge.emulator.__main__ import parse_args

    config = parse_args(
        [
            "--rate-limit",
            "100",
            "--rate-window",
            "10",
            "--rate-model",
            "token_bucket",
            "--rate-burst",
            "20",
            "--rate-style",
            "message_only",
        ]
    )
    assert config.rate_limit == 100
    assert config.rate_limit_policy == {
        "default_window": 10.0,
        "default_model": "token_bucket",
        "default_burst": 20,
        "default_style": "message_only",
    }
    with EmulatorProcess(
        extra_args=["--rate-limit", "2", "--rate-window", "30", "--rate-style", "message_only"]
    ) as process:
        limits = process.control.get("/rate_limits").json()
        assert (limits["limit"], limits["window_seconds"], limits["style"]) == (
            2,
            30.0,
            "message_only",
        )
