"""Benchmark: dm_bridge against the peers a user would pick instead, under every rate-limit model.

    .venv/bin/python bench/peer_backlog.py [--limit 120] [--window 6] [--workers 4]
        [--small 100] [--large-factor 3] [--models …] [--styles …] [--backlogs small large]
        [--contenders naive celery-retry dm_bridge]

One command, one run. For each emulator rate-limit model (sliding window, fixed window, token
bucket with a bucket of half the limit) × 429 style (Retry-After header and message, message
only — what Whop documents —, header only) and each backlog (``--small`` DMs, below the
window's limit, and ``--large-factor`` × the limit), the same backlog of ``dm_channels.create``
is drained by each contender in turn, on a freshly reset emulator with the same settings:

* ``naive``: Celery workers calling the official SDK with its defaults (2 retries,
  ``Retry-After`` honoured up to 60 s, no shared limiter), as Whop's tutorials do;
* ``celery-retry``: the usual Celery pattern around the same SDK calls:
  ``autoretry_for=(TooManyRequestsError, InternalServerError)``, ``retry_backoff=True``,
  ``max_retries=5``;
* ``dm_bridge``: ``services.open_dm`` for every pair in one transaction inside
  ``services.bulk()`` (how the README says to open a campaign's DMs), drained by dm_bridge's
  own Celery tasks (``drive_channels``, ``BATCH_SIZE`` channels each) with its shared Redis
  limiter, default settings apart from ``RATE_LIMIT_PER_MINUTE``/``RATE_LIMIT_WINDOW`` (told
  the emulator's limit and window).

Each contender has ``--workers`` real ``celery worker --pool solo`` processes on the bench's
Redis broker. **Time is scaled down**: the limit is ``--limit`` calls per ``--window`` seconds
(default 120 per 6 s, Whop's 600/min at 10× the speed), so the whole bench runs in about a
quarter of an hour. Measured per run, from t0 (the backlog released to the workers): drain
time (last job done or failed), match→active p50/p95 (per job, successful jobs), the 429s and
all calls in the emulator's request log, failed jobs, duplicate channels (the emulator's
channels minus the distinct IDs the jobs got). Prints a table, writes
``bench/results/peer_backlog.json`` and ``docs/images/peer_backlog.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
for path in (str(REPO), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from celery import Celery, Task  # noqa: E402

RESULTS_FILE = REPO / "bench" / "results" / "peer_backlog.json"
PLOT_FILE = REPO / "docs" / "images" / "peer_backlog.png"
LOG_DIR = REPO / "var" / "bench" / "peer_backlog"
PEER_QUEUE = "peer"
MODELS = ("sliding_window", "fixed_window", "token_bucket")
STYLES = ("header_and_message", "message_only", "header_only")
CONTENDERS = ("naive", "celery-retry", "dm_bridge")
RUN_TIMEOUT = 120.0

# --------------------------------------------------------------------------------------------
# the peers: a Celery app of their own (``celery -A peer_backlog worker``), SDK with defaults
# --------------------------------------------------------------------------------------------

peer_app = Celery(
    "peer_backlog", broker=os.environ.get("PEER_BROKER_URL", "redis://127.0.0.1:6379/13")
)
peer_app.conf.update(task_default_queue=PEER_QUEUE, worker_prefetch_multiplier=1)
_sdk: Any = None


def _peer_sdk() -> Any:
    global _sdk
    if _sdk is None:
        from whop_sdk import Whop
        from whop_sdk.environment import WhopEnvironment

        base = os.environ["WHOP_API_BASE_URL"]
        _sdk = Whop(  # the SDK's defaults: max_retries=2, Retry-After honoured up to 60 s
            environment=WhopEnvironment(api=base, vault=base),
            token=os.environ["WHOP_API_KEY"],
        )
    return _sdk


def _record(run: str, job: int, outcome: dict[str, Any]) -> None:
    import redis

    redis.Redis.from_url(peer_app.conf.broker_url).hset(
        f"peer:{run}", str(job), json.dumps({"t": time.time(), **outcome})
    )


class RecordedTask(Task):  # type: ignore[type-arg]  # celery-types: Task is generic
    """Records each job's end (done, or failed for good) for the bench to read."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        _record(args[0], args[1], {"ok": True, "channel": retval})

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        _record(args[0], args[1], {"ok": False, "error": type(exc).__name__})


def _create(user_ids: list[str]) -> str:
    channel = _peer_sdk().dm_channels.create(
        with_user_ids=user_ids, account_id=os.environ["WHOP_COMPANY_ID"]
    )
    return str(channel.id)


@peer_app.task(base=RecordedTask, name="peer.naive")
def naive_create(run: str, job: int, user_ids: list[str]) -> str:
    return _create(user_ids)


def _retryable() -> tuple[type[BaseException], ...]:
    from whop_sdk import InternalServerError, TooManyRequestsError

    return (TooManyRequestsError, InternalServerError)


@peer_app.task(
    base=RecordedTask,
    name="peer.celery_retry",
    bind=True,
    autoretry_for=_retryable(),
    retry_backoff=True,
    max_retries=5,
)
def retrying_create(self: Any, run: str, job: int, user_ids: list[str]) -> str:
    return _create(user_ids)


# --------------------------------------------------------------------------------------------
# the bench
# --------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def setup(args: argparse.Namespace) -> Any:
    from channel_backlog import (
        bench_env,
        flush_redis,
        make_verified_users,
        migrate,
        recreate_database,
    )

    from dm_bridge.testing import CeleryProcesses, EmulatorProcess

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOG_DIR.glob("*.log"):
        old.unlink()
    recreate_database(args.database_url)
    flush_redis(args.redis_url)
    emulator = EmulatorProcess(log_file=LOG_DIR / "emulator.log").start()
    env = bench_env(
        emulator,
        settings_module="marketplace.settings",
        database_url=args.database_url,
        redis_url=args.redis_url,
        limit_per_minute=args.limit,
        log_level="WARNING",
        DM_BRIDGE_RATE_LIMIT_WINDOW=str(args.window),
        PEER_BROKER_URL=args.redis_url,
    )
    migrate(env)
    os.environ.update(env)
    peer_app.conf.update(broker_url=args.redis_url)
    import django

    django.setup()
    from dm_bridge.models import WhopUserLink

    buyers_n = 40
    sellers_n = -(-args.limit * args.large_factor // buyers_n)
    sellers = make_verified_users("seller", sellers_n)
    buyers = make_verified_users("buyer", buyers_n)
    WhopUserLink.objects.bulk_create(
        WhopUserLink(user=u, whop_user_id=f"user_bench{u.pk}", status="active")
        for u in sellers + buyers
    )
    pairs = [(s, b) for s in sellers for b in buyers]
    celery = CeleryProcesses("marketplace", env, LOG_DIR, cwd=REPO)
    peers = CeleryProcesses("peer_backlog", env, LOG_DIR, cwd=BENCH)
    for i in range(args.workers):
        celery.worker(f"dmb{i + 1}", queues="celery,dm_bridge_sweep,dm_bridge_backlog")
        peers.worker(f"peer{i + 1}", queues=PEER_QUEUE)
    return emulator, celery, peers, sellers + buyers, pairs


def wait_for_workers(count: int, timeout: float = 120) -> None:
    """Until every worker of both apps answers a ping: boot time is not drain time."""
    from marketplace.celery import app

    wanted = {f"{kind}{i + 1}" for kind in ("dmb", "peer") for i in range(count)}
    deadline = time.monotonic() + timeout
    while True:
        replies = [
            *(app.control.ping(timeout=0.5) or []),
            *(peer_app.control.ping(timeout=0.5) or []),
        ]
        if wanted <= {node.split("@")[0] for reply in replies for node in reply}:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start; see {LOG_DIR}")
        time.sleep(0.2)


def warm_up(emulator: Any, users: list[Any], pairs: list[Any], args: argparse.Namespace) -> None:
    """Each contender drains a few jobs first, unrecorded: a worker's first task pays for its
    imports and connections, and that is boot time, not drain time, whoever runs first.
    Enough jobs that each of dm_bridge's workers gets batches too (BATCH_SIZE 10 a task)."""
    jobs = pairs[: 20 * args.workers]
    for contender in args.contenders:
        reset_emulator(emulator, users, args, {"model": "sliding_window"})
        if contender == "dm_bridge":
            run_dm_bridge(jobs, "warm")
        else:
            run_peer(contender, jobs, f"warm{contender}")


def reset_emulator(
    emulator: Any, users: list[Any], args: argparse.Namespace, policy: dict[str, Any]
) -> None:
    emulator.reset()
    emulator.seed(users=[{"id": f"user_bench{u.pk}", "username": u.username} for u in users])
    emulator.set_rate_limit(args.limit, window_seconds=args.window, **policy)


def count_calls(emulator: Any) -> tuple[int, int]:
    entries = emulator.requests()
    return len(entries), sum(1 for e in entries if e.get("status") == 429)


def remote_channels(emulator: Any) -> int:
    from channel_backlog import remote_channel_ids

    emulator.set_rate_limit(10**6, operation="dm_channels.list")
    return len(remote_channel_ids(emulator.api_url))


def run_peer(
    contender: str, pairs: list[Any], run: str
) -> tuple[float, list[float], int, set[str]]:
    task = naive_create if contender == "naive" else retrying_create
    import redis

    results = redis.Redis.from_url(peer_app.conf.broker_url)
    t0 = time.time()
    for job, (seller, buyer) in enumerate(pairs):
        task.delay(run, job, [f"user_bench{buyer.pk}", f"user_bench{seller.pk}"])
    while results.hlen(f"peer:{run}") < len(pairs) and time.time() - t0 < RUN_TIMEOUT:
        time.sleep(0.1)
    outcomes = [json.loads(v) for v in results.hvals(f"peer:{run}")]
    done = [o["t"] - t0 for o in outcomes if o["ok"]]
    ends = [o["t"] - t0 for o in outcomes] or [RUN_TIMEOUT]
    failed = len(pairs) - len(done)
    return max(ends), done, failed, {o["channel"] for o in outcomes if o["ok"]}


def run_dm_bridge(pairs: list[Any], run: str) -> tuple[float, list[float], int, set[str]]:
    from django.db import transaction

    from dm_bridge import services
    from dm_bridge.models import DmChannel
    from dm_bridge.ratelimit import get_rate_limiter

    DmChannel.objects.all().delete()
    get_rate_limiter().clear()  # every run starts with nothing learnt, like the peers
    with transaction.atomic(), services.bulk():  # a campaign: its work handed over together
        for seller, buyer in pairs:
            services.open_dm(f"{run}:shop:{seller.pk}/buyer:{buyer.pk}", [buyer, seller])
        t0 = time.time()  # the tasks are enqueued on commit, as the peers' are by delay()
    while time.time() - t0 < RUN_TIMEOUT:
        if not DmChannel.objects.filter(status="pending").exists():
            break
        time.sleep(0.1)
    rows = list(DmChannel.objects.values_list("status", "activated_at", "whop_channel_id"))
    done = [a.timestamp() - t0 for s, a, _ in rows if s == "active" and a]
    failed = len(pairs) - len(done)
    ends = done or [RUN_TIMEOUT]
    return max(ends), done, failed, {w for s, _, w in rows if w}


def percentile(values: list[float], q: float) -> float | None:
    from channel_backlog import percentile as nearest_rank

    return nearest_rank(values, q)


def scenarios(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for model in args.models:
        for style in args.styles:
            policy: dict[str, Any] = {"model": model, "style": style}
            if model == "token_bucket":
                policy["burst"] = max(1, args.limit // 2)
            sizes = {"small": args.small, "large": args.limit * args.large_factor}
            for size in (sizes[b] for b in args.backlogs):
                out.append({"model": model, "style": style, "size": size, "policy": policy})
    return out


def bench(args: argparse.Namespace) -> dict[str, Any]:
    emulator, celery, peers, users, all_pairs = setup(args)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        wait_for_workers(args.workers)
        warm_up(emulator, users, all_pairs, args)
        for n, scenario in enumerate(scenarios(args)):
            pairs = all_pairs[: scenario["size"]]
            for contender in args.contenders:
                reset_emulator(emulator, users, args, scenario["policy"])
                run = f"r{n}{contender}"
                if contender == "dm_bridge":
                    drain, done, failed, ids = run_dm_bridge(pairs, run)
                else:
                    drain, done, failed, ids = run_peer(contender, pairs, run)
                time.sleep(0.3)  # in-flight retries land in the log
                calls, limited = count_calls(emulator)
                duplicates = max(0, remote_channels(emulator) - len(ids))
                row = {
                    **{k: scenario[k] for k in ("model", "style", "size")},
                    "contender": contender,
                    "drain_s": round(drain, 2),
                    "p50_s": _r(percentile(done, 50)),
                    "p95_s": _r(percentile(done, 95)),
                    "calls": calls,
                    "429s": limited,
                    "failed": failed,
                    "duplicates": duplicates,
                }
                rows.append(row)
                log(json.dumps(row))
    finally:
        celery.stop()
        peers.stop()
        emulator.stop()
    return {
        "limit": args.limit,
        "window_s": args.window,
        "workers": args.workers,
        "token_bucket_burst": max(1, args.limit // 2),
        "bench_seconds": round(time.monotonic() - started),
        "machine": machine(),
        "rows": rows,
        "targets": targets(rows),
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def machine() -> str:
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    return f"{cores} cores, load average {load:.1f} at the end (shared machine)"


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario: dm_bridge's drain and p50/p95 ≤ the best contender's, 0 failed, 0
    duplicates, 429s ≤ 1 % of calls."""
    out = []
    keys = sorted({(r["model"], r["style"], r["size"]) for r in rows}, key=str)
    for key in keys:
        group = [r for r in rows if (r["model"], r["style"], r["size"]) == key]
        ours = next((r for r in group if r["contender"] == "dm_bridge"), None)
        if ours is None:
            continue
        others = [r for r in group if r["contender"] != "dm_bridge"]

        def best(metric: str, others: list[dict[str, Any]] = others) -> float:
            return min((r[metric] for r in others if r[metric] is not None), default=1e9)

        checks = {
            "drain": ours["drain_s"] <= best("drain_s"),
            "p50": (ours["p50_s"] or 1e9) <= best("p50_s"),
            "p95": (ours["p95_s"] or 1e9) <= best("p95_s"),
            "failed": ours["failed"] == 0,
            "duplicates": ours["duplicates"] == 0,
            "429s": ours["429s"] <= 0.01 * max(1, ours["calls"]),
        }
        out.append(
            {
                "model": key[0],
                "style": key[1],
                "size": key[2],
                **checks,
                "met": all(checks.values()),
            }
        )
    return out


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\nPeer backlog: {result['limit']} calls per {result['window_s']:g} s window per operation "
        f"(time scaled down: Whop's 600/min would be {result['limit']} per 6 s at 10× speed), "
        f"{result['workers']} workers each, token bucket of {result['token_bucket_burst']}; "
        f"{result['machine']}; {result['bench_seconds']} s in all\n"
    )
    header = (
        "| model | 429 style | jobs | contender | drain | p50 | p95 | 429s / calls | failed | dup |"
    )
    print(header)
    print("|" + "---|" * 10)
    for r in result["rows"]:
        print(
            f"| {r['model']} | {r['style']} | {r['size']} | {r['contender']} | {r['drain_s']:.2f} s "
            f"| {_s(r['p50_s'])} | {_s(r['p95_s'])} | {r['429s']} / {r['calls']} | {r['failed']} "
            f"| {r['duplicates']} |"
        )
    met = [t for t in result["targets"] if t["met"]]
    print(f"\nTargets met in {len(met)} of {len(result['targets'])} scenarios.")
    for t in result["targets"]:
        if not t["met"]:
            missed = [
                k for k in ("drain", "p50", "p95", "failed", "duplicates", "429s") if not t[k]
            ]
            print(f"  missed: {t['model']} / {t['style']} / {t['size']}: {', '.join(missed)}")


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def plot(result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    sizes = sorted({r["size"] for r in rows})
    fig, axes = plt.subplots(len(sizes), 1, figsize=(12, 4.5 * len(sizes)), squeeze=False)
    for ax, size in zip(axes[:, 0], sizes, strict=True):
        labels = sorted({(r["model"], r["style"]) for r in rows if r["size"] == size})
        width = 0.27
        for i, contender in enumerate(CONTENDERS):
            values = [
                next(
                    (
                        r["drain_s"]
                        for r in rows
                        if (r["model"], r["style"], r["size"], r["contender"])
                        == (*label, size, contender)
                    ),
                    0,
                )
                for label in labels
            ]
            ax.bar(
                [x + (i - 1) * width for x in range(len(labels))], values, width, label=contender
            )
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([f"{m}\n{s}" for m, s in labels], fontsize=7)
        ax.set_ylabel("drain time (s)")
        ax.set_title(f"{size} DMs, {result['limit']} per {result['window_s']:g} s")
        ax.legend()
    fig.tight_layout()
    PLOT_FILE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT_FILE, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit", type=int, default=120, help="calls per window (emulator and dm_bridge)"
    )
    parser.add_argument("--window", type=float, default=6.0, help="window in seconds")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large-factor", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument(
        "--backlogs", nargs="+", choices=("small", "large"), default=["small", "large"]
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=CONTENDERS,
        default=list(CONTENDERS),
        help="a subset for tuning; the targets compare only the contenders that ran",
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/dm_bridge_bench_peer"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    result = bench(args)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    plot(result)
    print(f"\nwritten: {RESULTS_FILE.relative_to(REPO)}, {PLOT_FILE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
