"""The HTTP side: a threading stdlib server, routing, CORS, the request pipeline
(auth → scope → rate limit → faults → operation) and the request log.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dm_bridge.emulator.auth import Principal, authenticate, authorize_operation
from dm_bridge.emulator.control import ControlApi
from dm_bridge.emulator.errors import (
    ApiError,
    bad_request,
    not_found,
    server_error,
    unauthorized,
)
from dm_bridge.emulator.faults import DEFAULT_RATE_LIMIT, FaultInjector, RateLimiter
from dm_bridge.emulator.operations import OPERATIONS, ROUTES, Api, Call
from dm_bridge.emulator.store import Store, iso_from_ms, now_ms
from dm_bridge.emulator.webhooks import DEFAULT_RETRY_DELAYS, Endpoint, WebhookDispatcher

DEFAULT_API_KEYS = {"apik_emulator_dev": "biz_emulator"}
MAX_BODY = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # bodies up to this size are read and dropped to answer 413 cleanly
MAX_LOGGED_REQUESTS = 100_000
API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_emulator"
ELEMENTS_PATH = "/release/elements.js"
STATIC_DIR = Path(__file__).resolve().parent / "static"
VERSION_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(-[0-9]+)?$")
CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Api-Version-Date",
    "Access-Control-Expose-Headers": "Retry-After",
    "Access-Control-Max-Age": "600",
}


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    data_file: str | None = None
    api_keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_API_KEYS))
    rate_limit: int = DEFAULT_RATE_LIMIT
    # the rest of the default rate-limit policy (faults.RatePolicy): window, model, bucket, 429 style
    rate_limit_policy: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
    hang_seconds: float = 300.0
    static_dir: Path = STATIC_DIR


@dataclass
class Request:
    method: str
    target: str
    # http.server's case-insensitive Message, or a plain mapping (tests): only get() and keys
    headers: Mapping[str, str] | Message[str, str]
    body: bytes = b""
    too_large: bool = False


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # hang faults: close the connection without answering
    operation: str | None = None
    subject: str | None = None

    @classmethod
    def json(cls, status: int, payload: Any, **kwargs: Any) -> Response:
        return cls(status, json.dumps(payload).encode(), **kwargs)

    @classmethod
    def error(cls, exc: ApiError, **kwargs: Any) -> Response:
        return cls(exc.status, json.dumps(exc.body()).encode(), headers=dict(exc.headers), **kwargs)


class RequestLog:
    def __init__(self, limit: int = MAX_LOGGED_REQUESTS) -> None:
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=limit)
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, **entry})

    def entries(self, operation: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(e) for e in self._entries if operation is None or e["operation"] == operation
            ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seq = 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(raw: bytes) -> Any:
    """The parsed body, or None when empty; 400 for anything that is not plain, valid JSON."""
    if not raw.strip():
        return None
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        # Lone surrogates ("\ud800") parse but cannot be stored or echoed as UTF-8.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError):
        raise bad_request("Malformed JSON body.") from None
    return value


def check_version_header(value: str | None) -> None:
    if value is None:
        return
    match = VERSION_RE.match(value.strip())
    if match is None:
        raise bad_request(
            f"Api-Version-Date must look like YYYY-MM-DD or YYYY-MM-DD-N (got {value!r})."
        )
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise bad_request(f"Api-Version-Date {value!r} is not a real date.") from None
    if day > datetime.now(UTC).date():
        raise bad_request(f"Api-Version-Date {value!r} is in the future; no such API version.")


class Emulator:
    """Everything behind the HTTP server; ``handle`` turns a Request into a Response."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.store = Store(config.data_file)
        with self.lock, self.store.transaction():
            self.secret = self.store.signing_secret()
            self._ensure_configured_companies()
        self.faults = FaultInjector(OPERATIONS, config.hang_seconds)
        self.limiter = RateLimiter(config.rate_limit, **config.rate_limit_policy)
        self.webhooks = WebhookDispatcher(config.webhook_retry_delays)
        self.request_log = RequestLog()
        self.api = Api(self.store, self._publish)
        self.control = ControlApi(self)

    @property
    def default_company_id(self) -> str:
        return next(iter(self.config.api_keys.values()))

    def _ensure_configured_companies(self) -> None:
        for company_id in dict.fromkeys(self.config.api_keys.values()):
            self.store.ensure_configured_company(company_id)

    def reset(self) -> None:
        with self.lock:
            with self.store.transaction():
                self.store.wipe()
                self._ensure_configured_companies()
            self.faults.clear()
            self.limiter.reset()
            self.request_log.clear()
            self.webhooks.reset()

    def close(self) -> None:
        self.faults.clear()  # let hanging handlers go
        self.webhooks.stop()
        with self.lock:
            self.store.close()

    # --- webhooks ---------------------------------------------------------------------------
    def webhook_endpoints(self) -> list[Endpoint]:
        endpoints = []
        if self.config.webhook_url and self.config.webhook_secret:
            endpoints.append(
                Endpoint("hook_cli", self.config.webhook_url, self.config.webhook_secret)
            )
        with self.lock:
            rows = self.store.all("SELECT * FROM webhooks ORDER BY seq")
        for row in rows:
            events = json.loads(row["events"]) if row["events"] else None
            delays = json.loads(row["retry_delays"]) if row["retry_delays"] else None
            endpoints.append(
                Endpoint(
                    row["id"],
                    row["url"],
                    row["secret"],
                    tuple(events) if events is not None else None,
                    tuple(float(d) for d in delays) if delays is not None else None,
                )
            )
        return endpoints

    def _publish(self, event_type: str, data: dict[str, Any], company_id: str) -> None:
        self.webhooks.publish(self.webhook_endpoints(), event_type, data, company_id)

    # --- requests ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        parts = urlsplit(request.target)
        path = parts.path
        query_lists = parse_qs(parts.query, keep_blank_values=True)
        query = {k: values[-1] for k, values in query_lists.items()}
        if request.method == "OPTIONS":
            response = Response(204, content_type="")
            if "access-control-request-private-network" in {k.lower() for k in request.headers}:
                response.headers["Access-Control-Allow-Private-Network"] = "true"
        elif path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            response = self._control(request, path[len(CONTROL_PREFIX) :], query)
        elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            log_query = {k: v[-1] if len(v) == 1 else v for k, v in query_lists.items()}
            response = self._api(request, path, query, log_query)
        elif path == ELEMENTS_PATH and request.method in ("GET", "HEAD"):
            response = self._elements()
        else:
            response = Response.error(not_found(f"No such endpoint: {request.method} {path}."))
        origin = request.headers.get("Origin")
        if origin:
            response.headers.update(CORS_HEADERS)
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    def _elements(self) -> Response:
        script = self.config.static_dir / "elements.js"
        try:
            content = script.read_bytes()
        except OSError:
            return Response.error(not_found("elements.js is not available in this emulator build."))
        return Response(
            200,
            content,
            content_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    def _control(self, request: Request, subpath: str, query: dict[str, str]) -> Response:
        try:
            if request.too_large:
                raise ApiError(413, "Request body exceeds the 1 MiB limit.")
            body = parse_json_body(request.body)
        except ApiError as exc:
            return Response.error(exc)
        try:
            return Response.json(200, self.control.handle(request.method, subpath, body, query))
        except ApiError as exc:
            return Response.error(exc)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return Response.error(server_error(500))

    def _route(self, method: str, path: str) -> tuple[str, str | None]:
        sub = path[len(API_PREFIX) :].strip("/")
        segments = [unquote(s) for s in sub.split("/")] if sub else []
        if 1 <= len(segments) <= 2 and segments[0] in ROUTES:
            table = ROUTES[segments[0]]
            if len(segments) == 2 and (method, segments[1]) in table:  # e.g. GET /users/me
                return f"{segments[0]}.{table[(method, segments[1])]}", None
            action = table.get((method, len(segments) == 2))
            if action is None:
                raise ApiError(405, f"{method} is not supported on {path}.")
            return f"{segments[0]}.{action}", segments[1] if len(segments) == 2 else None
        raise not_found(f"No such endpoint: {method} {path}.")

    def _authenticate(self, header: str | None) -> Principal:
        principal = authenticate(header, self.config.api_keys, self.secret)
        if principal.is_token:
            with self.lock:
                if principal.user_id is not None and self.store.user(principal.user_id) is None:
                    raise unauthorized("The access token's user no longer exists.")
                if self.store.company(principal.company_id) is None:
                    raise unauthorized("The access token's company no longer exists.")
        return principal

    def _api(
        self, request: Request, path: str, query: dict[str, str], log_query: dict[str, Any]
    ) -> Response:
        started = time.monotonic()
        received = iso_from_ms(now_ms())
        operation: str | None = None
        subject = "anonymous"
        body: Any = None
        body_error: ApiError | None = None
        try:
            body = parse_json_body(request.body)
        except ApiError as exc:
            body_error = exc
        else:
            if body is not None and not isinstance(body, dict):
                body_error = bad_request("The request body must be a JSON object.")

        def record(status: int | None) -> None:
            self.request_log.add(
                {
                    "time": received,
                    "method": request.method,
                    "path": path,
                    "query": log_query,
                    "operation": operation,
                    "body": body,
                    "subject": subject,
                    # Not credentials: what tests check about a client's manners on the wire.
                    "idempotency_key": request.headers.get("Idempotency-Key"),
                    "user_agent": request.headers.get("User-Agent"),
                    "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                }
            )

        def hang() -> Response:
            record(None)  # logged now: the answer never comes
            self.faults.hang()
            return Response(0, drop=True, operation=operation, subject=subject)

        try:
            if request.too_large:
                raise ApiError(413, "Request body exceeds the 1 MiB limit.")
            operation, path_id = self._route(request.method, path)
            check_version_header(request.headers.get("Api-Version-Date"))
            principal = self._authenticate(request.headers.get("Authorization"))
            subject = principal.subject
            authorize_operation(principal, operation)
            limited = self.limiter.check(operation, subject)
            if limited is not None:
                raise limited
            draw = self.faults.draw(operation)
            if draw.latency_ms:
                self.faults.sleep(draw.latency_ms / 1000)
            fault = draw.fault
            if fault is not None and not fault.commits:
                if fault.hangs:
                    return hang()
                raise fault.error()
            if body_error is not None:
                raise body_error
            call = Call(principal=principal, body=body or {}, query=query, path_id=path_id)
            with self.lock, self.store.transaction():
                result = self.api.dispatch(operation, call)
            for action in call.after_commit:
                action()
            if fault is not None:
                if fault.hangs:
                    return hang()
                raise fault.error()
            response = Response.json(200, result)
        except ApiError as exc:
            response = Response.error(exc)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = Response.error(server_error(500))
        response.operation, response.subject = operation, subject
        record(response.status)
        return response


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "WhopEmulator"
    sys_version = ""
    server: EmulatorHTTPServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_OPTIONS = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        # Only protocol errors get here (our own lines are written in _serve).
        sys.stderr.write(f"{iso_from_ms(now_ms())} {self.address_string()} {format % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def _read_body(self) -> tuple[bytes, bool]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b"", False
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            return b"", False
        if length > MAX_BODY:
            self.close_connection = True
            if length <= DRAIN_LIMIT:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            return b"", True
        return self.rfile.read(length), False

    def _read_chunked(self) -> tuple[bytes, bool]:
        data = bytearray()
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                return b"", False
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(data), False
            if len(data) + size > MAX_BODY:
                self.close_connection = True
                return b"", True
            data += self.rfile.read(size)
            self.rfile.readline(65537)

    def _serve(self) -> None:
        started = time.monotonic()
        body, too_large = self._read_body()
        request = Request(self.command, self.path, self.headers, body, too_large)
        response = self.server.emulator.handle(request)
        path = urlsplit(self.path).path
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self._log_line(path, "dropped", started, response)
            return
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        self._log_line(path, str(response.status), started, response)

    def _log_line(self, path: str, status: str, started: float, response: Response) -> None:
        # The path only: no headers (credentials live there) and no query string.
        elapsed = (time.monotonic() - started) * 1000
        extra = f" {response.operation} {response.subject}" if response.operation else ""
        sys.stderr.write(
            f"{iso_from_ms(now_ms())} {self.command} {path} {status} {elapsed:.1f}ms{extra}\n"
        )


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, RequestHandler)


def make_server(config: EmulatorConfig) -> EmulatorHTTPServer:
    return EmulatorHTTPServer((config.host, config.port), Emulator(config))
