"""``manage.py dm_bridge_emulator``: the emulator wired to this project's receiver and secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dm_bridge.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_starts_the_emulator_with_the_projects_webhook_and_prints_the_settings() -> None:
    port = free_port()
    env = {**os.environ, "DJANGO_DEBUG": "1", "WHOP_WEBHOOK_SECRET": "ws_cmd_test"}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "dm_bridge_emulator", "--port", str(port), "--data", "",
         "--site", "http://127.0.0.1:8123/"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        printed = "".join(proc.stdout.readline() for _ in range(7))
        assert f'"BASE_URL": "http://127.0.0.1:{port}/api/v1",' in printed
        assert '"WEBHOOK_SECRET": "ws_cmd_test",' in printed
        assert "Webhooks go to http://127.0.0.1:8123/dm/webhooks/whop/." in printed
        control = f"http://127.0.0.1:{port}/_emulator"
        deadline = time.monotonic() + 15
        while True:
            try:
                hooks = httpx.get(f"{control}/webhooks", timeout=2).json()["data"]
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        assert [h["url"] for h in hooks] == ["http://127.0.0.1:8123/dm/webhooks/whop/"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
