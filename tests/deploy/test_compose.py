"""docker-compose.yml, validated and resolved by Docker Compose v2 itself (`config` needs no engine).

Compose comes from `docker compose` when the plugin is installed, else from the standalone v2
binary `make compose-tool` puts in the venv, which is then run as a Docker CLI plugin when the
`docker` CLI exists (so the command really is `docker compose config`). Without either, the tests
skip locally and fail with DM_BRIDGE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
REQUIRED = {"DJANGO_SECRET_KEY": "test-secret-not-real", "POSTGRES_PASSWORD": "testpassword0"}
APP_SERVICES = ("migrate", "web", "worker", "beat")


@dataclass
class Compose:
    argv: list[str]
    base_env: dict[str, str]
    empty_env_file: Path

    def run(self, *args: str, env: dict[str, str] | None = None, env_file: Path | None = None):
        # A clean environment and an explicit env file: neither the caller's shell (CI exports
        # DATABASE_URL, REDIS_URL, maybe COMPOSE_*) nor a developer's .env changes the result.
        return subprocess.run(
            [
                *self.argv,
                "--project-directory",
                str(ROOT),
                "-f",
                str(COMPOSE_FILE),
                "--env-file",
                str(env_file or self.empty_env_file),
                *args,
            ],
            env={**self.base_env, **(env if env is not None else REQUIRED)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def config(self, *profile_args: str, env: dict[str, str] | None = None) -> dict:
        result = self.run(*profile_args, "config", "--format", "json", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def _major_version(argv: list[str], env: dict[str, str]) -> int:
    try:
        out = subprocess.run(
            [*argv, "version"], env=env, capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return 0
    match = re.search(r"version v?(\d+)\.", out.stdout)
    return int(match.group(1)) if out.returncode == 0 and match else 0


@pytest.fixture(scope="session")
def compose(tmp_path_factory, service_missing) -> Compose:
    tmp = tmp_path_factory.mktemp("compose")
    empty_env_file = tmp / "empty.env"
    empty_env_file.write_text("")
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
    }
    if "DOCKER_CONFIG" in os.environ:
        base_env["DOCKER_CONFIG"] = os.environ["DOCKER_CONFIG"]

    docker = shutil.which("docker")
    if docker and _major_version([docker, "compose"], base_env) >= 2:
        return Compose([docker, "compose"], base_env, empty_env_file)

    venv_binary = Path(sys.executable).parent / "docker-compose"
    candidates = [str(venv_binary)] if venv_binary.exists() else []
    if (on_path := shutil.which("docker-compose")) and on_path not in candidates:
        candidates.append(on_path)
    for binary in candidates:
        if _major_version([binary], base_env) < 2:
            continue  # the retired Python docker-compose v1: not what `docker compose` runs
        if docker:
            plugins = tmp / "docker-config" / "cli-plugins"
            plugins.mkdir(parents=True)
            (plugins / "docker-compose").symlink_to(binary)
            plugin_env = {**base_env, "DOCKER_CONFIG": str(plugins.parent)}
            if _major_version([docker, "compose"], plugin_env) >= 2:
                return Compose([docker, "compose"], plugin_env, empty_env_file)
        return Compose([binary], base_env, empty_env_file)

    service_missing(
        "Docker Compose v2 not found (`docker compose` or docker-compose v2): run `make compose-tool`"
    )


@pytest.fixture(scope="session")
def default_config(compose: Compose) -> dict:
    return compose.config()


@pytest.fixture(scope="session")
def dev_config(compose: Compose) -> dict:
    return compose.config("--profile", "dev")


def command(config: dict, service: str) -> list[str]:
    return config["services"][service]["command"]


@pytest.mark.parametrize("profile_args", [(), ("--profile", "dev")], ids=["default", "dev"])
def test_compose_file_validates(compose, profile_args):
    result = compose.run(*profile_args, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_required_values_are_refused_when_missing(compose):
    result = compose.run("config", "--quiet", env={})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "POSTGRES_PASSWORD" in result.stderr


def test_env_example_validates_once_the_required_values_are_filled_in(compose):
    result = compose.run("--profile", "dev", "config", "--quiet", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_services_and_the_dev_profile(default_config, dev_config):
    production = {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert set(default_config["services"]) == production
    assert set(dev_config["services"]) == production | {"emulator"}


def test_processes(default_config):
    web = command(default_config, "web")
    assert web[0] == "gunicorn" and "marketplace.wsgi:application" in web
    assert web[web.index("--bind") + 1] == "0.0.0.0:8000"
    assert command(default_config, "worker")[:4] == ["celery", "-A", "marketplace", "worker"]
    assert command(default_config, "beat")[:4] == ["celery", "-A", "marketplace", "beat"]
    assert command(default_config, "migrate") == ["python", "manage.py", "migrate", "--no-input"]


def test_worker_scales(compose):
    config = compose.config(env={**REQUIRED, "WORKER_CONCURRENCY": "7"})
    worker = config["services"]["worker"]
    assert worker["command"][worker["command"].index("--concurrency") + 1] == "7"
    # `--scale worker=N` needs containers without a fixed name or host port.
    assert "container_name" not in worker
    assert not worker.get("ports")


def test_startup_order(default_config):
    services = default_config["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["web"]["ports"][0]["target"] == 8000


def test_app_environment_is_shared_and_production(default_config):
    environments = [default_config["services"][name]["environment"] for name in APP_SERVICES]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["DATABASE_URL"] == (
        f"postgresql://marketplace:{REQUIRED['POSTGRES_PASSWORD']}@postgres:5432/marketplace"
    )
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DJANGO_SECRET_KEY"] == REQUIRED["DJANGO_SECRET_KEY"]
    assert env["DJANGO_DEBUG"] == "0"
    assert env["WHOP_API_BASE_URL"] == "https://api.whop.com/api/v1"
    assert env["WHOP_ELEMENTS_URL"] == "https://apollo.elements.whop.com/release/elements.js"
    assert {"WHOP_API_KEY", "WHOP_COMPANY_ID", "WHOP_WEBHOOK_SECRET"} <= set(env)
    assert {"web", "127.0.0.1"} <= set(env["DJANGO_ALLOWED_HOSTS"].split(","))


def test_emulator_in_the_dev_profile(dev_config):
    emulator = dev_config["services"]["emulator"]
    argv = emulator["command"]
    assert argv[:3] == ["python", "-m", "dm_bridge.emulator"]
    options = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert options == {
        "--host": "0.0.0.0",
        "--port": "8765",
        "--data": "/data/emulator.sqlite3",
        "--webhook-url": "http://web:8000/dm/webhooks/whop/",
        "--webhook-secret": "ws_emulator_dev_secret",
    }
    assert [(p["published"], p["target"]) for p in emulator["ports"]] == [("8765", 8765)]
    assert emulator["profiles"] == ["dev"]


def test_env_example_lists_every_variable_the_compose_file_reads():
    compose_text = COMPOSE_FILE.read_text()
    # ${VAR…} is read from .env; $${VAR} is left to the container's shell.
    read = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", compose_text))
    example = ENV_EXAMPLE.read_text()
    listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert read, "no variables found in docker-compose.yml"
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
    # Every listed variable has a comment line right above it (or in its block).
    lines = example.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            assert any(lines[j].startswith("#") for j in range(max(0, i - 3), i)), line
