"""Test helpers for projects that use dm_bridge: run the Whop emulator as a real process.

Use as a pytest plugin (``pytest_plugins = ["dm_bridge.testing"]``) to get:

* ``dm_bridge_whop`` — what host tests want: ``DM_BRIDGE`` points at the emulator (its key,
  company and URLs, work inline, a per-process limiter, no broker), the emulator is reset, and
  the test runs with real commits so ``open_dm`` → ``active`` happens inside the test. Returns
  the :class:`EmulatorProcess` (``requests()``, ``add_fault()``, …). See docs/testing.md.
* ``whop_emulator`` — session-scoped: one emulator process on a free port.
* ``emulator`` — function-scoped: the same process, reset before each test. It does *not*
  touch settings: with it alone, dm_bridge still uses the project's ``DM_BRIDGE``.

Or drive :class:`EmulatorProcess` yourself (benchmarks, scripts). :class:`WebhookReceiver` is
a tiny HTTP endpoint that records the emulator's outbound webhooks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

DEFAULT_API_KEY = "apik_emulator_dev"
DEFAULT_COMPANY_ID = "biz_emulator"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """The emulator in a subprocess (``python -m dm_bridge.emulator``), plus its control API."""

    def __init__(
        self,
        *,
        port: int | None = None,
        data_file: str | os.PathLike[str] | None = None,
        api_keys: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
        log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.data_file = data_file
        self.api_keys = api_keys or {DEFAULT_API_KEY: DEFAULT_COMPANY_ID}
        self.extra_args = list(extra_args)
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None
        self.control = httpx.Client(base_url=f"{self.url}/_emulator", timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def elements_url(self) -> str:
        return f"{self.url}/release/elements.js"

    # --- process ------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> EmulatorProcess:
        args = [
            sys.executable,
            "-m",
            "dm_bridge.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        for key, company in self.api_keys.items():
            args += ["--api-key", f"{key}={company}"]
        if self.data_file:
            args += ["--data", str(self.data_file)]
        args += self.extra_args
        if self.log_file:
            self._log_handle = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        out = self._log_handle or subprocess.DEVNULL
        self._proc = subprocess.Popen(args, stdout=out, stderr=out)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"Whop emulator exited with code {self._proc.returncode}; args: {args[3:]}"
                )
            try:
                if self.control.get("/health").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Whop emulator did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log_handle:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.control.close()

    # --- control API (/_emulator/...) ----------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.control.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def _create(self, path: str, body: dict[str, Any]) -> str:
        """POST ``body`` to a control collection; the ID of what it created."""
        created: str = self._call("POST", path, json=body)["id"]
        return created

    def _list(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("GET", path, params=params)["data"]
        return rows

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed(self, **objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Create users / dm_channels / messages directly; returns them with their IDs."""
        seeded: dict[str, list[dict[str, Any]]] = self._call("POST", "/seed", json=objects)
        return seeded

    def add_fault(self, operation: str, **spec: Any) -> str:
        """Inject a fault on an operation such as ``dm_channels.create``; see docs/emulator.md."""
        return self._create("/faults", {"operation": operation, **spec})

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_rate_limit(
        self, per_minute: int | None = None, operation: str | None = None, **policy: Any
    ) -> None:
        """The limit per window, and optionally ``window_seconds``, ``model``, ``burst``,
        ``style`` (docs/emulator.md); for one operation or (without) the default."""
        body: dict[str, Any] = dict(policy)
        if per_minute is not None:
            body["limit"] = per_minute
        if operation:
            body["operation"] = operation
        self._call("POST", "/rate_limits", json=body)

    def requests(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The request log: what the emulator received (never credentials, only their subject)."""
        params = {"operation": operation} if operation else None
        return self._list("/requests", params)

    def add_webhook(self, url: str, secret: str, events: Sequence[str] | None = None) -> str:
        body: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = list(events)
        return self._create("/webhooks", body)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self._list("/webhook_deliveries")

    def mint_token(
        self,
        user_id: str | None = None,
        *,
        api_key: str | None = None,
        account_id: str | None = None,
        **body: Any,
    ) -> str:
        """A user access token (or, without ``user_id``, an account token) via the REST API."""
        key = api_key or next(iter(self.api_keys))
        payload: dict[str, Any] = {"account_id": account_id or self.api_keys[key], **body}
        if user_id:
            payload["user_id"] = user_id
        response = httpx.post(
            f"{self.api_url}/access_tokens",
            json=payload,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["token"])


Delivery = tuple[dict[str, str], bytes, int]


class WebhookReceiver:
    """A webhook endpoint on a free local port: records every delivery (lower-cased headers,
    raw body, the status it answered) and answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[Delivery] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = 500 if len(receiver.received) < receiver.fail_first else 204
                    receiver.received.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whop"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CeleryProcesses:
    """Real ``celery worker`` / ``celery beat`` subprocesses for reliability tests and benchmarks.

    ``env`` is read at each start, so a test may change it between workers. Each process gets
    its own session (Ctrl+C reaches only the caller, which stops them in order) and a log file
    in ``log_dir``.
    """

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        log_dir: str | os.PathLike[str],
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.app = app
        self.env = env
        self.log_dir = Path(log_dir)
        self.cwd = cwd
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", self.app, *args],
                cwd=self.cwd,
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def worker(
        self, name: str, *, pool: str = "solo", concurrency: int = 1, queues: str | None = None
    ) -> subprocess.Popen[bytes]:
        args = ["worker", "-n", f"{name}@%h", "--pool", pool, "--concurrency", str(concurrency)]
        if queues:
            args += ["-Q", queues]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
        return self._spawn(name, args)

    def beat(self) -> subprocess.Popen[bytes]:
        for leftover in self.log_dir.glob("beat-schedule*"):
            leftover.unlink()
        return self._spawn(
            "beat", ["beat", "-l", "INFO", "--schedule", str(self.log_dir / "beat-schedule")]
        )

    def dead(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is not None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def settings_for(emulator: EmulatorProcess, **overrides: Any) -> dict[str, Any]:
    """A ``DM_BRIDGE`` settings dict pointing at ``emulator`` (work inline unless overridden)."""
    return {
        "API_KEY": DEFAULT_API_KEY,
        "COMPANY_ID": DEFAULT_COMPANY_ID,
        "BASE_URL": emulator.api_url,
        "ELEMENTS_URL": emulator.elements_url,
        "TASKS_ENABLED": False,
        "REDIS_URL": "",
        **overrides,
    }


# --- pytest plugin ------------------------------------------------------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def whop_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
        log = Path(tmp_path_factory.mktemp("whop-emulator")) / "emulator.log"
        with EmulatorProcess(log_file=log) as process:
            yield process

    @pytest.fixture
    def emulator(whop_emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
        whop_emulator.reset()
        yield whop_emulator

    @pytest.fixture
    def dm_bridge_whop(
        settings: Any, emulator: EmulatorProcess, transactional_db: None
    ) -> EmulatorProcess:
        """dm_bridge wired to a freshly reset emulator, hermetic: no real key, broker or Redis.

        ``transactional_db`` makes the test commit for real (pytest-django then flushes the
        tables after it), so the on-commit work that ``open_dm`` schedules runs inline right
        away, as in production, even in a test marked only ``@pytest.mark.django_db``.
        Override single settings afterwards: ``settings.DM_BRIDGE = {**settings.DM_BRIDGE, …}``.
        """
        from .ratelimit import get_rate_limiter

        # The host's own keys (POLICY, USER_ADAPTER, …) stay; everything that reaches outside
        # the test process is replaced.
        settings.DM_BRIDGE = {
            **(getattr(settings, "DM_BRIDGE", None) or {}),
            **settings_for(emulator),
        }
        get_rate_limiter().clear()  # a previous test's pacing must not slow this one
        return emulator
