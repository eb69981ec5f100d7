"""Steps several browser tests share: logging in through the real form."""

from __future__ import annotations

from typing import Any


def log_in(new_page: Any, live_server: Any, username: str, path: str = "/accounts/login/") -> Any:
    """A new page signed in as ``username`` (password ``pw-123456``), started at ``path``."""
    page = new_page()
    # Django's admin pages name no favicon, so Chromium asks for /favicon.ico (a 404 here).
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto(live_server.url + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-123456")
    page.get_by_role("button", name="Log in").click()
    return page
