"""A pytest plugin that fails the session when a secret shows up where people could read it.

Registered in ``tests/conftest.py`` (``pytest_plugins``). For the whole session it watches
what the project *emits* — never what tests build themselves:

* **log records** — a handler on the root logger at level DEBUG formats every record that
  reaches it (other handlers keep their levels; only the ``dm_bridge`` logger is opened to
  DEBUG, so the Whop client's request lines are seen too);
* **HTTP responses** — ``BaseHandler.get_response`` (sync and async) is wrapped, which covers
  the test client and ``live_server``: headers, and bodies of non-streaming responses;
* **rendered templates** — ``django.template.base.Template.render`` output;
* **worker / emulator logs** — the log files of ``CeleryProcesses`` and ``EmulatorProcess``
  (``dm_bridge.testing``) created during the session, read at the end.

Secrets: ``dm_bridge.testing.DEFAULT_API_KEY``, every ``API_KEY`` / ``WEBHOOK_SECRET`` seen in
``settings.DM_BRIDGE`` during the session (sampled around every test and at every check),
``marketplace.settings``' defaults and Django's ``SECRET_KEY``. Values shorter than
``MIN_SECRET_LENGTH`` are ignored (a test's ``"k"`` would match everywhere).

Scanning is incremental: only violations are kept (where, and at most ~200 characters around
the hit with every secret masked). At the end they are printed and the exit status is 1.

A test that must emit a secret on purpose opts out with ``@pytest.mark.leakscan_exempt``
(everything recorded while it runs — including by live-server threads — is skipped).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MARKER = "leakscan_exempt"
MIN_SECRET_LENGTH = 8
CONTEXT_CHARS = 100  # each side of a hit: ~200 characters of context per violation
MAX_VIOLATIONS = 200  # more than that is one big leak: stop collecting details
SETTINGS_SECRET_KEYS = ("API_KEY", "WEBHOOK_SECRET")


@dataclass(frozen=True)
class Violation:
    source: str  # "log", "response", "template", "file"
    where: str
    test: str
    secret: str  # the secret's label, never its value
    excerpt: str  # secrets masked

    def describe(self) -> str:
        return f"[{self.source}] {self.where} (during {self.test or 'no test'}) leaks {self.secret}:\n    {self.excerpt!r}"


class LeakScanner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}  # value -> label
        self.violations: list[Violation] = []
        self.dropped = 0
        self.current_test = ""
        self.exempt = False
        self.log_files: set[Path] = set()
        self.log_dirs: set[Path] = set()
        self._undo: list[Any] = []
        self.scanned = {"log": 0, "response": 0, "template": 0, "file": 0}

    # --- secrets --------------------------------------------------------------------------------
    def add_secret(self, value: Any, label: str) -> None:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, Iterable):
            return
        for item in values:
            if isinstance(item, str) and len(item.strip()) >= MIN_SECRET_LENGTH:
                with self._lock:
                    self._secrets.setdefault(item, label)

    def sample_settings(self) -> None:
        """Learn the secrets in the current Django settings (no-op when Django is not set up)."""
        try:
            from django.conf import settings

            if not settings.configured:
                return
            dm_bridge = getattr(settings, "DM_BRIDGE", None) or {}
            secret_key = getattr(settings, "SECRET_KEY", "")
        except Exception:  # settings that cannot even be read are not our business here
            return
        if isinstance(dm_bridge, dict):
            for name in SETTINGS_SECRET_KEYS:
                self.add_secret(dm_bridge.get(name), f"DM_BRIDGE[{name!r}]")
        self.add_secret(secret_key, "SECRET_KEY")

    def secrets(self) -> dict[str, str]:
        self.sample_settings()  # a test may have changed settings since the last sample
        with self._lock:
            return dict(self._secrets)

    # --- scanning -------------------------------------------------------------------------------
    def scan(self, source: str, where: str, text: str | bytes | None) -> None:
        if not text or self.exempt:
            return
        self.scanned[source] = self.scanned.get(source, 0) + 1
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        secrets = self.secrets()
        for value, label in secrets.items():
            index = text.find(value)
            if index >= 0:
                self._record(source, where, label, _excerpt(text, index, value, secrets))

    def _record(self, source: str, where: str, label: str, excerpt: str) -> None:
        with self._lock:
            if len(self.violations) >= MAX_VIOLATIONS:
                self.dropped += 1
                return
            self.violations.append(Violation(source, where, self.current_test, label, excerpt))

    def scan_file(self, path: Path) -> None:
        """Line by line: a worker's log can be large, only hits are kept."""
        try:
            handle = path.open("r", encoding="utf-8", errors="replace")
        except OSError:
            return
        with handle:
            test, self.current_test = self.current_test, ""
            try:
                for number, line in enumerate(handle, 1):
                    self.scan("file", f"{path} line {number}", line)
            finally:
                self.current_test = test

    def scan_log_files(self) -> None:
        files = set(self.log_files)
        for directory in self.log_dirs:
            if directory.is_dir():
                files.update(directory.glob("*.log"))
        for path in sorted(files):
            if path.is_file():
                self.scan_file(path)

    # --- instrumentation ------------------------------------------------------------------------
    def install(self) -> None:
        self.add_secret(_default_api_key(), "dm_bridge.testing.DEFAULT_API_KEY")
        for name, value in _marketplace_defaults():
            self.add_secret(value, f"marketplace.settings {name}")
        self.sample_settings()
        self._install_logging()
        self._install_django()
        self._install_process_logs()

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def _install_logging(self) -> None:
        handler = _ScanHandler(self)
        root = logging.getLogger()
        root.addHandler(handler)
        self._undo.append(lambda: root.removeHandler(handler))
        # dm_bridge's DEBUG lines (the Whop client's request log) must exist to be scanned.
        package = logging.getLogger("dm_bridge")
        if package.level == logging.NOTSET or package.level > logging.DEBUG:
            previous = package.level
            package.setLevel(logging.DEBUG)
            self._undo.append(lambda: package.setLevel(previous))

    def _install_django(self) -> None:
        try:
            from django.core.handlers.base import BaseHandler
            from django.template.base import Template
        except ImportError:  # pragma: no cover - Django is a hard dependency here
            return
        scanner = self
        get_response = BaseHandler.__dict__["get_response"]
        get_response_async = BaseHandler.__dict__["get_response_async"]
        render = Template.__dict__["render"]

        @functools.wraps(get_response)
        def scanned_get_response(handler: Any, request: Any) -> Any:
            response = get_response(handler, request)
            scanner.scan_response(request, response)
            return response

        @functools.wraps(get_response_async)
        async def scanned_get_response_async(handler: Any, request: Any) -> Any:
            response = await get_response_async(handler, request)
            scanner.scan_response(request, response)
            return response

        @functools.wraps(render)
        def scanned_render(template: Any, context: Any) -> Any:
            output = render(template, context)
            scanner.scan("template", f"template {template.name or '(from string)'}", output)
            return output

        self._patch(BaseHandler, "get_response", scanned_get_response)
        self._patch(BaseHandler, "get_response_async", scanned_get_response_async)
        self._patch(Template, "render", scanned_render)

    def scan_response(self, request: Any, response: Any) -> None:
        if self.exempt:
            return
        try:
            where = f"response {request.method} {request.get_full_path()} -> {response.status_code}"
            headers = "\n".join(f"{k}: {v}" for k, v in response.items())
            self.scan("response", where + " (headers)", headers)
            if not getattr(response, "streaming", False):
                self.scan("response", where, response.content)
        except Exception as exc:  # scanning must never break the request under test
            self._record("response", f"scanner error {exc!r}", "(none)", "")

    def _install_process_logs(self) -> None:
        try:
            from dm_bridge import testing
        except ImportError:  # pragma: no cover
            return
        scanner = self
        celery_init = testing.CeleryProcesses.__dict__["__init__"]
        emulator_init = testing.EmulatorProcess.__dict__["__init__"]

        @functools.wraps(celery_init)
        def celery_processes_init(procs: Any, *args: Any, **kwargs: Any) -> None:
            celery_init(procs, *args, **kwargs)
            scanner.log_dirs.add(Path(procs.log_dir))

        @functools.wraps(emulator_init)
        def emulator_process_init(proc: Any, *args: Any, **kwargs: Any) -> None:
            emulator_init(proc, *args, **kwargs)
            if proc.log_file:
                scanner.log_files.add(Path(proc.log_file))

        self._patch(testing.CeleryProcesses, "__init__", celery_processes_init)
        self._patch(testing.EmulatorProcess, "__init__", emulator_process_init)

    # --- report ---------------------------------------------------------------------------------
    def coverage(self) -> str:
        counts = self.scanned
        return (
            f"scanned {counts['log']} log records, {counts['response']} responses/headers, "
            f"{counts['template']} template renders, {counts['file']} log-file lines "
            f"for {len(self._secrets)} secrets"
        )

    def report_lines(self) -> list[str]:
        lines = [f"{len(self.violations) + self.dropped} secret leak(s) found ({self.coverage()}):"]
        lines += [v.describe() for v in self.violations]
        if self.dropped:
            lines.append(f"... and {self.dropped} more")
        lines.append(
            "Fix the leak; a test that emits a secret on purpose opts out with "
            f"@pytest.mark.{MARKER}."
        )
        return lines


class _ScanHandler(logging.Handler):
    def __init__(self, scanner: LeakScanner) -> None:
        super().__init__(level=logging.DEBUG)
        self.scanner = scanner
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            try:
                text = self.format(record)
            except Exception:
                text = f"{record.msg!r} {record.args!r}"
            extras = [
                f"{k}={v}"
                for k, v in record.__dict__.items()
                if k not in _STANDARD_RECORD_ATTRS and isinstance(v, str)
            ]
            if extras:
                text += " " + " ".join(extras)
            self.scanner.scan("log", f"log {record.levelname} {record.name}", text)
        finally:
            self._local.busy = False


_STANDARD_RECORD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _excerpt(text: str, index: int, value: str, secrets: dict[str, str]) -> str:
    """~200 characters around the hit; every secret in it (even cut at an edge) masked."""
    longest = max(len(s) for s in secrets)
    start = max(0, index - CONTEXT_CHARS - longest)
    wide = text[start : index + len(value) + CONTEXT_CHARS + longest]
    marker = f"\x00{secrets[value]}\x00"
    wide = wide.replace(value, marker, 1)
    for other, label in sorted(secrets.items(), key=lambda item: -len(item[0])):
        wide = wide.replace(other, f"[{label}]")
    at = wide.index(marker)
    before = wide[max(0, at - CONTEXT_CHARS) : at]
    after = wide[at + len(marker) : at + len(marker) + CONTEXT_CHARS]
    # A secret cut by the window edge must not show its visible half.
    for other in secrets:
        for cut in range(MIN_SECRET_LENGTH // 2, len(other)):
            if before.startswith(other[-cut:]):
                before = "…" + before[cut:]
            if after.endswith(other[:cut]):
                after = after[:-cut] + "…"
    return f"{before}[{secrets[value]}]{after}"


def _default_api_key() -> str:
    try:
        from dm_bridge.testing import DEFAULT_API_KEY
    except ImportError:  # pragma: no cover
        return ""
    return DEFAULT_API_KEY


def _marketplace_defaults() -> list[tuple[str, Any]]:
    """The secrets ``marketplace.settings`` holds when imported (its dev defaults by default)."""
    if os.environ.get("DJANGO_SETTINGS_MODULE") != "marketplace.settings":
        return []
    try:
        import marketplace.settings as ms
    except Exception:
        return []
    dm_bridge = getattr(ms, "DM_BRIDGE", {}) or {}
    found = [(f"DM_BRIDGE[{name!r}]", dm_bridge.get(name)) for name in SETTINGS_SECRET_KEYS]
    found.append(("SECRET_KEY", getattr(ms, "SECRET_KEY", "")))
    return found


# --- pytest hooks ---------------------------------------------------------------------------------
_scanner = LeakScanner()


def get_scanner() -> LeakScanner:
    return _scanner


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: this test emits a secret on purpose; the secret-leak scanner skips it",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    _scanner.install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _scanner.current_test = item.nodeid
    _scanner.exempt = item.get_closest_marker(MARKER) is not None
    try:
        yield
    finally:
        _scanner.current_test = ""
        _scanner.exempt = False


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _scanner.sample_settings()  # after the fixtures changed settings


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:  # before they restore them
    _scanner.sample_settings()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _scanner.scan_log_files()
    _scanner.uninstall()
    if _scanner.violations or _scanner.dropped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not (_scanner.violations or _scanner.dropped):
        terminalreporter.write_line(f"secret leak scan: clean ({_scanner.coverage()})")
        return
    terminalreporter.section("secret leak scan", sep="=", red=True, bold=True)
    for line in _scanner.report_lines():
        terminalreporter.write_line(line)
