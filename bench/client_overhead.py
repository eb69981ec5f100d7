"""Benchmark: what dm_bridge's Whop adapter costs on top of Whop's official SDK.

    .venv/bin/python bench/client_overhead.py [--calls 2000] [--rounds 10] [--redis-url URL]

One run against a local emulator process (real HTTP on loopback), the same requests through:

* **raw httpx** — ``httpx.Client.get`` + ``response.json()``: the floor;
* **bare SDK** — ``whop_sdk.Whop(max_retries=0)`` on an equivalent ``httpx.Client``;
* **adapter** — ``dm_bridge.whop.WhopAdapter`` without a pacer: the SDK plus dm_bridge's error
  table, attempt hook, idempotency header plumbing and logging;
* **adapter + local limiter** — what a single-process site runs (``LocalRateLimiter``);
* **adapter + Redis limiter** — what workers run in production (one Redis round trip per call
  to share Whop's rate limit across processes); only with ``--redis-url``.

Two operations: ``dm_channels.retrieve`` (a small model) and ``messages.list`` (a page of 20
messages: model parsing dominates). The variants take turns in every round (rotating which
goes first), so drift on the machine hits all of them alike. Time per call is wall time
(median and p95; the ratio to the bare SDK uses medians); CPU per call is this process's CPU (``time.process_time``) divided by the
calls — the client-side cost, since the emulator runs in another process.

Target (issue 9): the adapter costs at most 1.1x the bare SDK. The limits are set so high
that the limiters never wait: what is measured is their bookkeeping, not pacing.
Results go to stdout and ``bench/results/client_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
import httpx
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 1.10


def configure_django() -> None:
    # dm_bridge's limiters read DM_BRIDGE; a limit no call ever reaches keeps them from waiting.
    settings.configure(
        DM_BRIDGE={"RATE_LIMIT_PER_MINUTE": 10**9, "RATE_LIMIT_SAFETY": 1.0},
        INSTALLED_APPS=[],
    )
    django.setup()


def build_variants(api_url: str, redis_url: str) -> dict[str, dict[str, Callable[[], Any]]]:
    from whop_sdk import Whop
    from whop_sdk.environment import WhopEnvironment

    from dm_bridge.ratelimit import LocalRateLimiter, RedisRateLimiter
    from dm_bridge.testing import DEFAULT_API_KEY
    from dm_bridge.whop import WhopAdapter

    return {
        "raw httpx": {
            "http": httpx.Client(
                base_url=api_url,
                headers={
                    "Authorization": f"Bearer {DEFAULT_API_KEY}",
                    "Api-Version-Date": "2026-10-15-1",
                },
                timeout=httpx.Timeout(15.0, connect=5.0),
                follow_redirects=False,
            )
        },
        "bare SDK": {
            "sdk": Whop(
                environment=WhopEnvironment(api=api_url, vault=api_url),
                token=DEFAULT_API_KEY,
                max_retries=0,
                httpx_client=httpx.Client(
                    timeout=httpx.Timeout(15.0, connect=5.0), follow_redirects=False
                ),
            )
        },
        "adapter": {"whop": WhopAdapter.build(DEFAULT_API_KEY, base_url=api_url)},
        "adapter + local limiter": {
            "whop": WhopAdapter.build(DEFAULT_API_KEY, base_url=api_url, pacer=LocalRateLimiter())
        },
        **(
            {
                "adapter + Redis limiter": {
                    "whop": WhopAdapter.build(
                        DEFAULT_API_KEY,
                        base_url=api_url,
                        pacer=RedisRateLimiter(redis_url, prefix="dm_bridge:bench"),
                    )
                }
            }
            if redis_url
            else {}
        ),
    }


def call_for(variant: dict[str, Any], operation: str, channel_id: str) -> Callable[[], Any]:
    if "http" in variant:
        http = variant["http"]
        if operation == "dm_channels.retrieve":
            return lambda: http.get(f"/dm_channels/{channel_id}").raise_for_status().json()
        return lambda: (
            http.get("/messages", params={"channel_id": channel_id, "first": 20})
            .raise_for_status()
            .json()
        )
    client = variant.get("sdk") or variant["whop"]
    if operation == "dm_channels.retrieve":
        return lambda: client.dm_channels.retrieve(channel_id)
    return lambda: client.messages.list(channel_id=channel_id, first=20).items


def measure(call: Callable[[], Any], calls: int) -> tuple[list[float], float]:
    times: list[float] = []
    cpu_start = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times, time.process_time() - cpu_start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant per operation")
    parser.add_argument("--rounds", type=int, default=10, help="turns the calls are split into")
    parser.add_argument("--redis-url", default="", help="also measure the shared Redis limiter")
    parser.add_argument("--output", default=str(ROOT / "bench/results/client_overhead.json"))
    args = parser.parse_args()
    configure_django()

    from dm_bridge.testing import EmulatorProcess

    per_round = max(1, args.calls // args.rounds)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with EmulatorProcess(extra_args=["--rate-limit", "100000000"]) as whop:
        users = whop.seed(users=[{"username": "bench_a"}, {"username": "bench_b"}])["users"]
        ids = [u["id"] for u in users]
        channel = whop.seed(dm_channels=[{"member_user_ids": ids}])["dm_channels"][0]
        whop.seed(
            messages=[
                {"channel_id": channel["id"], "user_id": ids[i % 2], "content": f"message {i}"}
                for i in range(40)
            ]
        )
        variants = build_variants(whop.api_url, args.redis_url)
        names = list(variants)
        for operation in ("dm_channels.retrieve", "messages.list"):
            calls = {name: call_for(variants[name], operation, channel["id"]) for name in names}
            for call in calls.values():  # warm up connections, imports and caches
                for _ in range(50):
                    call()
            times: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, float] = dict.fromkeys(names, 0.0)
            for round_no in range(args.rounds):
                order = names[round_no % len(names) :] + names[: round_no % len(names)]
                for name in order:
                    taken, used = measure(calls[name], per_round)
                    times[name] += taken
                    cpu[name] += used
                print(f"  {operation}: round {round_no + 1}/{args.rounds} done", file=sys.stderr)
            results[operation] = {
                name: {
                    "calls": len(times[name]),
                    "median_ms": statistics.median(times[name]) * 1000,
                    "p95_ms": statistics.quantiles(times[name], n=20)[18] * 1000,
                    "mean_ms": statistics.fmean(times[name]) * 1000,
                    "cpu_ms_per_call": cpu[name] / len(times[name]) * 1000,
                }
                for name in names
            }
        for variant in variants.values():
            for client in variant.values():
                closer = getattr(client, "close", None)
                if closer:
                    closer()

    verdicts = report(results)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(
        json.dumps(
            {
                "results": results,
                "target_ratio": TARGET,
                "verdicts": verdicts,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "calls_per_variant": args.calls,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(verdicts.values()) else 1


def report(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, bool]:
    verdicts: dict[str, bool] = {}
    header = (
        f"{'operation':<22} {'variant':<25} {'median ms':>10} {'p95 ms':>9} {'mean ms':>9} "
        f"{'CPU ms/call':>12} {'median vs SDK':>14} {'CPU vs SDK':>11}"
    )
    print(header)
    print("-" * len(header))
    for operation, rows in results.items():
        sdk = rows["bare SDK"]
        for name, row in rows.items():
            wall_ratio = row["median_ms"] / sdk["median_ms"]  # the median resists noisy neighbours
            cpu_ratio = row["cpu_ms_per_call"] / sdk["cpu_ms_per_call"]
            print(
                f"{operation:<22} {name:<25} {row['median_ms']:>10.3f} {row['p95_ms']:>9.3f} "
                f"{row['mean_ms']:>9.3f} {row['cpu_ms_per_call']:>12.3f} "
                f"{wall_ratio:>13.3f}x {cpu_ratio:>10.3f}x"
            )
            if name == "adapter":
                verdicts[operation] = wall_ratio <= TARGET and cpu_ratio <= TARGET
        print()
    for operation, passed in verdicts.items():
        print(
            f"target adapter <= {TARGET:.2f}x bare SDK (wall and CPU) on {operation}: "
            f"{'met' if passed else 'NOT met'}"
        )
    return verdicts


if __name__ == "__main__":
    raise SystemExit(main())
