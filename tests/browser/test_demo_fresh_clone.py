"""The README's first command, for real: `make run` in a fresh clone, then a chat in Chromium.

The clone gets its own virtualenv (the first install takes a few minutes), SQLite, the
filesystem broker, the emulator, a worker, beat and the dev server — no database or broker
server. The test logs in with the printed demo accounts and does a buyer ↔ seller round trip.
It clones the committed HEAD, so uncommitted changes are not part of what it checks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dm_bridge.testing import free_port

pytestmark = [pytest.mark.browser, pytest.mark.demo, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
# What a fresh shell has: none of the test run's own settings.
DROP = {
    "DATABASE_URL",
    "REDIS_URL",
    "DM_BRIDGE_REQUIRE_SERVICES",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "CI",
    "MAKEFLAGS",
    "MAKELEVEL",
}


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    web, emulator = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in DROP}
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "run", f"PORT={web}", f"EMULATOR_PORT={emulator}"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 900
        while "Marketplace ready" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("`make run` did not get ready:\n" + log_path.read_text()[-4000:])
            time.sleep(1)
        yield {"url": f"http://127.0.0.1:{web}", "log": log_path}
    finally:
        os.killpg(process.pid, signal.SIGINT)  # like Ctrl+C: honcho stops every process
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_run_in_a_fresh_clone_gives_a_working_chat(demo: Any, new_page: Any) -> None:
    output = demo["log"].read_text()
    assert "seeding demo" in output and "alice" in output and "marketplace-demo" in output

    def log_in(username: str) -> Any:
        page = new_page()
        page.goto(demo["url"] + "/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("marketplace-demo")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
        return page

    alice = log_in("alice")
    alice.goto(demo["url"] + "/?q=touring")
    alice.get_by_role("link", name=re.compile("touring bike")).click()
    started = time.monotonic()
    alice.get_by_role("button", name="Message seller").click()
    # A real worker on the filesystem broker creates the DM: "connecting…", then the chat.
    expect(alice.get_by_test_id("whop-chat-input")).to_be_visible(timeout=20_000)
    print(f"chat ready {time.monotonic() - started:.1f} s after 'Message seller'")
    alice.get_by_test_id("whop-chat-input").fill("Hello from a fresh clone!")
    alice.get_by_test_id("whop-chat-send").click()

    bob = log_in("bob")
    bob.goto(demo["url"] + "/messages/")
    bob.get_by_test_id("whop-dms-item").filter(has_text="alice").click()
    expect(bob.get_by_text("Hello from a fresh clone!")).to_be_visible()
    bob.get_by_test_id("whop-chat-input").fill("Welcome! It works.")
    bob.get_by_test_id("whop-chat-send").click()
    expect(alice.get_by_text("Welcome! It works.")).to_be_visible(timeout=2000)
