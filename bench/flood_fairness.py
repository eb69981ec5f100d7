"""Benchmark: honest buyers' DMs while one user floods the site with conversations.

    .venv/bin/python bench/flood_fairness.py [--spam 300] [--honest 20] [--workers 4]
        [--latency-ms 50] [--limit-per-minute 600] [--modes fair,fifo] [--redis-url …]

The scenario of issue 10, item 5: one user opens a conversation with each of ``--spam`` shops
(``--spam-rate`` per second, with an "About: …" context message like the marketplace's), while
``--honest`` honest buyers, one every ``--honest-every`` seconds from the start of the flood,
each open one with some shop. Every user already has a Whop identity (provisioned before the
measured phase), so a DM costs ``dm_channels.create`` plus ``messages.create``. Whop's limit
(``--limit-per-minute`` per operation) is enforced by the emulator and paced by dm_bridge's
shared Redis limiter; every emulator call takes ``--latency-ms`` longer. ``--workers`` ``celery
worker --pool solo`` processes consume the queues the Procfile's workers do
(``celery,dm_bridge_sweep,dm_bridge_backlog``), plus ``celery beat``.

Each mode runs in its own process with a fresh PostgreSQL database (its name must contain
"bench"), Redis database (flushed; never /0) and emulator:

* ``fair``: dm_bridge's defaults: a requester's channels beyond ``BACKLOG_THRESHOLD`` (3) waiting
  to be created go to ``dm_bridge_backlog``, which workers take from in turn with the default
  queue, so an honest buyer's task waits behind at most a few of the flood's;
* ``fifo``: ``BACKLOG_THRESHOLD`` 0, one first-in-first-out queue (dm_bridge before fairness).

Measured from the rows: match → ready = ``activated_at - created_at`` per channel (what the
buyer's "Connecting…" lasts), for the honest buyers and for the flood; the flood's drain time;
429s in the emulator's request log; failed rows; duplicates (Whop channels minus distinct Whop
IDs on local rows). Results go to ``bench/results/flood_fairness.json``, logs to
``var/bench/flood_fairness/<mode>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (REPO, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from channel_backlog import (  # noqa: E402 - needs the paths above
    bench_env,
    code_version,
    flush_redis,
    log,
    make_verified_users,
    migrate,
    percentile,
    recreate_database,
    remote_channel_ids,
    wait_for_workers,
)

from dm_bridge.testing import (  # noqa: E402
    CeleryProcesses,
    EmulatorProcess,
)

RESULTS_FILE = BENCH / "results" / "flood_fairness.json"
LOG_ROOT = REPO / "var" / "bench" / "flood_fairness"
QUEUES = "celery,dm_bridge_sweep,dm_bridge_backlog"  # as the Procfile's workers
MODES = {"fair": "3", "fifo": "0"}  # mode -> DM_BRIDGE["BACKLOG_THRESHOLD"]
TARGET_HONEST_P95_SECONDS = 3.0


def child_env(args: argparse.Namespace, emulator: EmulatorProcess) -> dict[str, str]:
    return bench_env(
        emulator,
        settings_module="marketplace.settings",
        database_url=args.database_url,
        redis_url=args.redis_url,
        limit_per_minute=args.limit_per_minute,
        log_level="WARNING",
        DM_BRIDGE_BACKLOG_THRESHOLD=MODES[args.child],
    )


def at_rate(items: list[Any], start: float, every: float, act: Any) -> threading.Thread:
    """A thread calling ``act(item)`` for each item, the n-th at ``start + n * every``."""

    def run() -> None:
        from django.db import connections

        try:
            for n, item in enumerate(items):
                time.sleep(max(0.0, start + n * every - time.monotonic()))
                act(item)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    """One mode, in this process: set up, flood, measure."""
    log_dir = LOG_ROOT / args.child
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    recreate_database(args.database_url)
    flush_redis(args.redis_url)
    emulator = EmulatorProcess(log_file=log_dir / "emulator.log")
    celery: CeleryProcesses | None = None
    try:
        emulator.start()
        emulator.set_rate_limit(60_000)  # setup only: provisioning is not what is measured
        env = child_env(args, emulator)
        migrate(env)
        os.environ.update(env)
        import django

        django.setup()
        from django.conf import settings

        from dm_bridge import services
        from dm_bridge.models import DmChannel
        from marketplace.celery import app

        settings.DM_BRIDGE["RATE_LIMIT_PER_MINUTE"] = 60_000
        spammer, *honest = make_verified_users("buyer", 1 + args.honest)
        owners = make_verified_users("owner", args.spam)
        for user in [spammer, *honest, *owners]:
            services.ensure_whop_user(user)
        settings.DM_BRIDGE["RATE_LIMIT_PER_MINUTE"] = args.limit_per_minute
        emulator.set_rate_limit(args.limit_per_minute)
        emulator.add_fault("*", latency_ms=args.latency_ms)
        log(f"[{args.child}] {1 + args.honest + args.spam} users provisioned; starting workers")

        celery = CeleryProcesses("marketplace", env, log_dir, cwd=REPO)
        names = [f"w{i + 1}" for i in range(args.workers)]
        for name in names:
            celery.worker(name, queues=QUEUES)
        celery.beat()
        wait_for_workers(app, names, celery, timeout=120)
        seq_before = max((r["seq"] for r in emulator.requests()), default=0)

        def open_flood(n: int) -> None:
            services.open_dm(
                f"shop:{n}/buyer:{spammer.pk}",
                [spammer, owners[n]],
                context_message=f"About: listing {n}",
                context_key=f"listing:{n}",
            )

        def open_honest(k: int) -> None:
            shop = (k * 37) % args.spam
            services.open_dm(
                f"shop:{shop}/buyer:{honest[k].pk}",
                [honest[k], owners[shop]],
                context_message=f"About: listing {shop}",
                context_key=f"listing:{shop}",
            )

        t0 = time.monotonic()
        t0_wall = datetime.now(UTC)
        threads = [
            at_rate(list(range(args.spam)), t0, 1 / args.spam_rate, open_flood),
            at_rate(list(range(args.honest)), t0 + 0.5, args.honest_every, open_honest),
        ]
        for thread in threads:
            thread.join()
        total = args.spam + args.honest
        timed_out = False
        while True:
            done = DmChannel.objects.filter(status__in=("active", "failed")).count()
            if done >= total:
                break
            if time.monotonic() - t0 > args.timeout:
                timed_out = True
                break
            if celery.dead():
                raise RuntimeError(f"a Celery process died; see {log_dir}")
            time.sleep(1)
        celery.stop()

        rows = list(
            DmChannel.objects.values(
                "requester_id", "status", "whop_channel_id", "created_at", "activated_at"
            )
        )

        def latencies(of_spammer: bool) -> list[float]:
            return [
                (r["activated_at"] - r["created_at"]).total_seconds()
                for r in rows
                if r["activated_at"] and (r["requester_id"] == spammer.pk) == of_spammer
            ]

        honest_s, flood_s = latencies(False), latencies(True)
        flood_done = [r["activated_at"] for r in rows if r["requester_id"] == spammer.pk]
        entries = [r for r in emulator.requests() if r["seq"] > seq_before]
        remote = remote_channel_ids(emulator.api_url)
        local = {r["whop_channel_id"] for r in rows if r["whop_channel_id"]}
        statuses = Counter(r["status"] for r in rows)
        return {
            "mode": args.child,
            "backlog_threshold": int(MODES[args.child]),
            "timed_out": timed_out,
            "honest_p50_s": _round(percentile(honest_s, 50)),
            "honest_p95_s": _round(percentile(honest_s, 95)),
            "honest_max_s": _round(max(honest_s, default=None)),
            "honest_ready": len(honest_s),
            "flood_p50_s": _round(percentile(flood_s, 50)),
            "flood_p95_s": _round(percentile(flood_s, 95)),
            "flood_ready": len(flood_s),
            "flood_drain_s": _round(
                (max(d for d in flood_done if d) - t0_wall).total_seconds()
                if all(flood_done)
                else None
            ),
            "http_429": sum(1 for r in entries if r["status"] == 429),
            "requests_by_operation": dict(Counter(r["operation"] for r in entries)),
            "active": statuses.get("active", 0),
            "failed": statuses.get("failed", 0),
            "whop_channels": len(remote),
            "duplicates": len(remote) - len(local),
        }
    finally:
        if celery is not None:
            celery.stop()
        emulator.stop()
        emulator.control.close()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def print_table(config: dict[str, Any], results: list[dict[str, Any]]) -> None:
    def sec(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f} s"

    rows = [
        ("mode (BACKLOG_THRESHOLD)", [f"{r['mode']} ({r['backlog_threshold']})" for r in results]),
        ("honest match → ready p50", [sec(r["honest_p50_s"]) for r in results]),
        (
            f"honest match → ready p95 (target ≤ {TARGET_HONEST_P95_SECONDS:g} s)",
            [
                f"{sec(r['honest_p95_s'])} "
                f"{'PASS' if (r['honest_p95_s'] or 99) <= TARGET_HONEST_P95_SECONDS else 'FAIL'}"
                for r in results
            ],
        ),
        ("honest match → ready max", [sec(r["honest_max_s"]) for r in results]),
        ("honest DMs ready", [f"{r['honest_ready']}/{config['honest']}" for r in results]),
        (
            "flood match → ready p50 / p95",
            [f"{sec(r['flood_p50_s'])} / {sec(r['flood_p95_s'])}" for r in results],
        ),
        ("flood drained after", [sec(r["flood_drain_s"]) for r in results]),
        ("429s", [str(r["http_429"]) for r in results]),
        ("failed / active", [f"{r['failed']} / {r['active']}" for r in results]),
        (
            "duplicates (Whop − local)",
            [f"{r['duplicates']} ({r['whop_channels']} on Whop)" for r in results],
        ),
    ]
    width = max(len(name) for name, _ in rows)
    cols = [max(len(row[1][i]) for row in rows) for i in range(len(results))]
    rule = "-" * (width + sum(cols) + 3 * len(cols))
    print(
        f"\n{config['spam']} flood DMs by one user at {config['spam_rate']:g}/s + "
        f"{config['honest']} honest buyers every {config['honest_every']:g} s; "
        f"{config['workers']} workers (solo), {config['latency_ms']} ms latency, "
        f"{config['limit_per_minute']}/min per operation; code {config['code']}"
    )
    print(rule)
    for name, values in rows:
        cells = "   ".join(f"{v:<{cols[i]}}" for i, v in enumerate(values))
        print(f"{name:<{width}}   {cells}".rstrip())
    print(rule)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spam", type=int, default=300)
    parser.add_argument("--spam-rate", type=float, default=30.0, help="flood DMs opened per second")
    parser.add_argument("--honest", type=int, default=20)
    parser.add_argument("--honest-every", type=float, default=1.5, help="seconds between them")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--limit-per-minute", type=int, default=600)
    parser.add_argument("--modes", default="fair,fifo")
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/dm_bridge_bench_fairness"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        args.child_output.write_text(json.dumps(run_mode(args), default=str))
        return 0

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    options = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in (
            "spam",
            "spam_rate",
            "honest",
            "honest_every",
            "workers",
            "latency_ms",
            "limit_per_minute",
            "database_url",
            "redis_url",
            "timeout",
        )
    ]
    results = []
    try:
        for mode in args.modes.split(","):
            log(f"mode {mode}: fresh database, Redis and emulator in a child process")
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        *options,
                        f"--child={mode}",
                        f"--child-output={out.name}",
                    ],
                    check=True,
                )
                results.append(json.loads(Path(out.name).read_text()))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    config = {
        k: getattr(args, k)
        for k in ("spam", "spam_rate", "honest", "honest_every", "workers", "latency_ms")
    }
    config.update(limit_per_minute=args.limit_per_minute, code=code_version(), cpus=os.cpu_count())
    print_table(config, results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"config": config, "results": results, "finished_at": datetime.now(UTC).isoformat()},
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
