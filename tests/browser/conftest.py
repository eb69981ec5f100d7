"""Playwright fixtures for the browser tests (Debian's Chromium; Playwright never downloads one).

* ``browser`` — session-scoped Chromium. Skips the browser tests when ``/usr/bin/chromium``
  (or Playwright) is missing, unless ``DM_BRIDGE_REQUIRE_SERVICES=1`` demands them.
* ``new_context`` / ``new_page`` — factories for fresh, isolated browser contexts (one per
  simulated user); everything is closed after the test, with screenshots of every open page
  saved to ``test-artifacts/`` when the test failed.
* ``screenshot`` — save a page's screenshot to ``test-artifacts/`` explicitly.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The ``emulator`` / ``whop_emulator`` fixtures come from the dm_bridge.testing plugin
# (registered in tests/conftest.py).

# Playwright's sync API keeps an event loop running in the test thread, which makes Django refuse
# ORM calls there ("cannot call this from an async context"). The tests are synchronous code that
# happens to share a thread with that loop, so the check does not apply to them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("DM_BRIDGE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("DM_BRIDGE_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
        pytest.fail(
            f"{reason} (DM_BRIDGE_REQUIRE_SERVICES=1 requires the browser tests to run)",
            pytrace=False,
        )
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev.txt
        _unavailable("playwright is not installed")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    def take(page: Any, label: str = "end") -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{_safe_name(request.node.name)}-{_safe_name(label)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions and console errors of every page the test opened."""
    return []


@pytest.fixture
def new_context(
    browser: Any, request: pytest.FixtureRequest, page_errors: list[str]
) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def watch(page: Any) -> None:
        page.on("pageerror", lambda exc: page_errors.append(f"{page.url}: uncaught {exc}"))
        page.on(
            "console",
            lambda msg: (
                page_errors.append(f"{page.url}: console.{msg.type}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("viewport", {"width": 1100, "height": 720})
        context = browser.new_context(**kwargs)
        context.set_default_timeout(10_000)
        context.on("page", watch)
        contexts.append(context)
        return context

    yield make

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for c_index, context in enumerate(contexts):
        if failed:
            for p_index, page in enumerate(context.pages):
                path = (
                    ARTIFACTS / f"{_safe_name(request.node.name)}-failure-{c_index}-{p_index}.png"
                )
                with contextlib.suppress(Exception):  # best effort: the page may be gone
                    page.screenshot(path=str(path), full_page=True)
        context.close()


@pytest.fixture
def new_page(new_context: Callable[..., Any]) -> Callable[..., Any]:
    """``new_page()`` → a page in its own fresh context (a separate "browser profile")."""

    def make(**kwargs: Any) -> Any:
        return new_context(**kwargs).new_page()

    return make
