"""The reference pages list exactly what the code has: URL names, settings, signals."""

from __future__ import annotations

import re
from pathlib import Path

from dm_bridge import signals, urls
from dm_bridge.conf import DEFAULTS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def table_column(page: str) -> set[str]:
    """The backticked names in the first column of the page's tables."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return {
        name
        for cell in re.findall(r"^\| ([^|]+) \|", text, re.M)
        for name in re.findall(r"`([^`]+)`", cell)
    }


def test_every_url_name_is_documented() -> None:
    documented = {n.removeprefix("dm_bridge:") for n in table_column("urls.md") if ":" in n}
    assert documented == {p.name for p in urls.urlpatterns}


def test_every_setting_is_documented() -> None:
    assert table_column("settings.md") >= set(DEFAULTS)
    keys = {n for n in table_column("settings.md") if re.fullmatch(r"[A-Z][A-Z_]+", n)}
    assert keys == set(DEFAULTS)  # nor a key that does not exist


def test_every_signal_is_documented() -> None:
    declared = {n for n, v in vars(signals).items() if type(v).__name__ == "Signal"}
    assert declared <= table_column("signals.md")
