"""``python -m dm_bridge.emulator --port 8765``: run the local Whop API emulator."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from dm_bridge.emulator.faults import (
    DEFAULT_MODEL,
    DEFAULT_RATE_LIMIT,
    DEFAULT_STYLE,
    RATE_LIMIT_MODELS,
    RATE_LIMIT_STYLES,
    WINDOW_SECONDS,
)
from dm_bridge.emulator.server import DEFAULT_API_KEYS, EmulatorConfig, make_server
from dm_bridge.emulator.webhooks import DEFAULT_RETRY_DELAYS


def _api_key(value: str) -> tuple[str, str]:
    key, sep, company = value.partition("=")
    if not sep or not key or not company.startswith("biz_"):
        raise argparse.ArgumentTypeError(f"expected KEY=biz_ID, got {value!r}")
    return key, company


def _delays(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seconds, got {value!r}"
        ) from None
    if any(d < 0 for d in delays):
        raise argparse.ArgumentTypeError("delays must not be negative")
    return delays


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="python -m dm_bridge.emulator", description="A local emulator of the Whop DM API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--data", metavar="FILE", help="SQLite file that keeps state across restarts"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        type=_api_key,
        metavar="KEY=biz_ID",
        help="an API key and its company (repeatable); default apik_emulator_dev=biz_emulator",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT,
        metavar="N",
        help="requests per window per operation per credential (default 600)",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=WINDOW_SECONDS,
        metavar="SECONDS",
        help="the window the limit counts over (default 60; benches scale it down)",
    )
    parser.add_argument(
        "--rate-model",
        choices=RATE_LIMIT_MODELS,
        default=DEFAULT_MODEL,
        help="how calls are counted (Whop's own is undocumented; default sliding_window)",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        metavar="N",
        help="token_bucket only: the bucket's size (default: the limit)",
    )
    parser.add_argument(
        "--rate-style",
        choices=RATE_LIMIT_STYLES,
        default=DEFAULT_STYLE,
        help="what a 429 carries: Retry-After and 'Try again in N seconds.' (default), the "
        "message only (what Whop documents) or the header only",
    )
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument(
        "--webhook-retry-delays",
        type=_delays,
        default=DEFAULT_RETRY_DELAYS,
        metavar="10,20,40",
        help="seconds before each retry of a failed webhook delivery",
    )
    parser.add_argument("--hang-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    if bool(args.webhook_url) != bool(args.webhook_secret):
        parser.error("--webhook-url and --webhook-secret go together")
    if args.rate_limit < 1:
        parser.error("--rate-limit must be at least 1")
    if not 0.1 <= args.rate_window <= 86_400:
        parser.error("--rate-window must be from 0.1 to 86400 seconds")
    if args.rate_burst is not None and args.rate_burst < 1:
        parser.error("--rate-burst must be at least 1")
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        data_file=args.data,
        api_keys=dict(args.api_key) if args.api_key else dict(DEFAULT_API_KEYS),
        rate_limit=args.rate_limit,
        rate_limit_policy={
            "default_window": args.rate_window,
            "default_model": args.rate_model,
            "default_burst": args.rate_burst,
            "default_style": args.rate_style,
        },
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_retry_delays=args.webhook_retry_delays,
        hang_seconds=args.hang_seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    server = make_server(config)
    host, port = server.server_address[:2]
    assert isinstance(host, str)  # AF_INET(6) addresses are text; only AF_UNIX ones are bytes

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever(), which runs in this (main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"Whop emulator listening on http://{host}:{port} (data: {config.data_file or 'memory'})",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.emulator.close()
    print("Whop emulator stopped.", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
