"""Fixtures for the deployment files (Dockerfile, docker-compose.yml, Procfile, /healthz)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOT_CONFTEST = ROOT / "tests" / "conftest.py"


def _root_conftest(config: pytest.Config) -> ModuleType:
    # tests/conftest.py is not in a package, so `import conftest` gives whichever directory's
    # conftest pytest loaded last; take the module pytest registered for that file instead.
    for plugin in config.pluginmanager.get_plugins():
        file = getattr(plugin, "__file__", None)
        if file and Path(file).resolve() == ROOT_CONFTEST:
            return plugin
    raise RuntimeError(f"{ROOT_CONFTEST} is not loaded")


@pytest.fixture(scope="session")
def service_missing(pytestconfig: pytest.Config):
    """tests/conftest.py's ``service_missing``: skip locally, fail with DM_BRIDGE_REQUIRE_SERVICES."""
    return _root_conftest(pytestconfig).service_missing
