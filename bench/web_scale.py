"""Benchmark: the web side as one seller's conversations grow (10 → 10,000).

    .venv/bin/python bench/web_scale.py [--sizes 10,100,1000,10000] [--requests 40]
        [--events 300] [--database-url postgresql://postgres@127.0.0.1:5432/bench_web]
        [--redis-url redis://127.0.0.1:6379/12]

What it does:

1. Drops and recreates a PostgreSQL database just for the benchmark (its name must contain
   "bench") and migrates it; flushes a Redis database just for it (the cache: chat tokens).
2. Starts the Whop emulator (only the seller's Whop user and first chat token come from it).
3. Creates one seller with a shop, then grows the shop's conversations to each size: a buyer,
   an active DM channel, three members (buyer, seller, the shop's identity) and a marketplace
   ``Conversation`` each, written in bulk (not measured). One in three has an unread message
   for the seller, one in twenty is archived by the seller.
4. At each size, measures in this process with Django's test client, signed in as the seller
   (``DEBUG`` off, so templates are cached as in production):
   the inbox page (``/messages/``: the marketplace's list and dm_bridge's ``{% dm_inbox %}``),
   ``api/unread/``, ``api/channels/`` (first page), the chat-token endpoint (served from the
   cache after the first mint) — p50/p95 wall time over ``--requests`` requests after one
   warm-up, queries per request, response size;
   and the webhook receiver: ``--events`` signed ``chat.message.created`` deliveries (Whop's
   shape, Standard Webhooks signature) into one 50-member group DM, authors taking turns —
   events/s, p50/p95 per event, queries per event — once with ``WEBHOOK_APPLY = "request"``
   (applied before the answer) and once with ``"worker"`` (stored and answered; then the
   drain a worker would run is timed in this process: events applied per second).
5. Prints a table, writes ``bench/results/web_scale.json`` and ``docs/images/web_scale.png``.

Targets (issue 13): inbox, unread, channels and token ≤ 50 ms p50 at 10,000 conversations with
the same query count at every size; the receiver ≥ 300 events/s (both modes are reported). The client is in-process (no
HTTP server, no network): the times are Django's and the database's, which is what grows.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.channel_backlog import (  # noqa: E402 - needs the repo on sys.path first
    bench_env,
    code_version,
    flush_redis,
    log,
    make_verified_users,
    migrate,
    percentile,
    recreate_database,
)
from dm_bridge.testing import EmulatorProcess  # noqa: E402

RESULTS_FILE = REPO / "bench" / "results" / "web_scale.json"
PLOT_FILE = REPO / "docs" / "images" / "web_scale.png"
LOG_DIR = REPO / "var" / "bench" / "web_scale"
WEBHOOK_SECRET = "ws_bench_web_scale_secret"
GROUP_DM = "feed_bench_group"
GROUP_SIZE = 50
TARGET_P50_MS = 50.0
TARGET_EVENTS_PER_SECOND = 300.0
ENDPOINTS = ("inbox", "unread", "channels", "token")


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


class World:
    """The seller, their shop and what has been built so far."""

    def __init__(self) -> None:
        from dm_bridge.services import ensure_whop_user
        from marketplace.models import Listing, Shop

        (self.seller,) = make_verified_users("seller", 1)
        ensure_whop_user(self.seller)  # a real Whop user on the emulator: the token is minted
        self.shop = Shop(name="Bench Bikes", owner=self.seller)
        self.shop.save()
        self.listing = Listing.objects.create(
            shop=self.shop, title="A bench bike", description="For the benchmark.", price=100
        )
        self.conversations = 0
        self.group_members = self._group_dm()

    def _group_dm(self) -> list[str]:
        """A 50-member group DM (the seller, the shop and 48 linked users): the receiver's."""
        from django.conf import settings

        from dm_bridge.models import DmChannel, DmMember, WhopUserLink

        users = [self.seller, self.shop.identity, *make_verified_users("group", GROUP_SIZE - 2)]
        WhopUserLink.objects.bulk_create(
            WhopUserLink(user=u, whop_user_id=f"user_group{u.pk}", status="active")
            for u in users
            if u != self.seller
        )
        channel = DmChannel.objects.create(
            company_id=str(settings.DM_BRIDGE["COMPANY_ID"]),
            key="bench:group",
            whop_channel_id=GROUP_DM,
            status=DmChannel.Status.ACTIVE,
        )
        DmMember.objects.bulk_create(
            DmMember(channel=channel, user=u, status=DmMember.Status.ACTIVE) for u in users
        )
        links = WhopUserLink.objects.filter(user__in=users)
        return [str(whop_id) for whop_id in links.values_list("whop_user_id", flat=True)]

    def grow_to(self, size: int) -> None:
        from django.conf import settings
        from django.db import transaction
        from django.utils import timezone

        from dm_bridge.models import DmChannel, DmMember, WhopUserLink
        from marketplace.models import Conversation

        new = size - self.conversations
        if new <= 0:
            return
        started = time.monotonic()
        with transaction.atomic():
            buyers = make_verified_users(f"b{size}x", new)
            WhopUserLink.objects.bulk_create(
                WhopUserLink(user=b, whop_user_id=f"user_b{b.pk}", status="active") for b in buyers
            )
            now = timezone.now()
            channels = DmChannel.objects.bulk_create(
                DmChannel(
                    company_id=str(settings.DM_BRIDGE["COMPANY_ID"]),
                    key=f"shop:{self.shop.pk}/buyer:{b.pk}",
                    whop_channel_id=f"feed_bench{b.pk}",
                    status=DmChannel.Status.ACTIVE,
                    activated_at=now,
                    last_activity_at=now - timedelta(seconds=i),
                    last_message_at=now - timedelta(seconds=i),
                )
                for i, b in enumerate(buyers)
            )
            members = []
            for i, (buyer, channel) in enumerate(zip(buyers, channels, strict=True)):
                n = self.conversations + i
                for user in (buyer, self.seller, self.shop.identity):
                    mine = user == self.seller
                    members.append(
                        DmMember(
                            channel=channel,
                            user=user,
                            status=DmMember.Status.ACTIVE,
                            unread_count=1 if mine and n % 3 == 0 else 0,
                            archived=mine and n % 20 == 19,
                        )
                    )
            DmMember.objects.bulk_create(members, batch_size=5000)
            Conversation.objects.bulk_create(
                (
                    Conversation(buyer=b, shop=self.shop, channel=c, listing=self.listing)
                    for b, c in zip(buyers, channels, strict=True)
                ),
                batch_size=5000,
            )
        self.conversations = size
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh planner statistics, as autovacuum would give
        log(f"{size} conversations ({new} added in {time.monotonic() - started:.1f}s)")


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------


def measure(call: Callable[[], Any], requests: int) -> dict[str, Any]:
    """p50/p95 ms over ``requests`` calls after one warm-up; queries and bytes of the last."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = call()  # warm-up: connection, caches, first token mint
    if response.status_code != 200:
        raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
    times = []
    cpu_started = time.process_time()
    for _ in range(requests):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
    cpu_ms = (time.process_time() - cpu_started) * 1000 / requests
    with CaptureQueriesContext(connection) as queries:
        response = call()
    return {
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "mean_ms": statistics.fmean(times),
        "cpu_ms": cpu_ms,  # this process only (Django); PostgreSQL's time is in its backend
        "queries": len(queries),
        "bytes": len(response.content),
        "status": response.status_code,
    }


def sign(msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks, as Whop signs: HMAC-SHA256 keyed with the secret's UTF-8 bytes."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return (
        "v1,"
        + base64.b64encode(
            hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).digest()
        ).decode()
    )


def message_event(number: int, author: str, at: datetime) -> bytes:
    """A ``chat.message.created`` body in the shape of whop-sdk 2.6's payload model."""
    stamp = at.isoformat().replace("+00:00", "Z")
    message = {
        "id": f"post_bench{number}",
        "content": f"message {number} in the group",
        "created_at": stamp,
        "updated_at": stamp,
        "is_edited": False,
        "is_pinned": False,
        "mentions": [],
        "mentions_everyone": False,
        "message_type": "regular",
        "poll": None,
        "poll_votes": [],
        "reaction_counts": [],
        "replying_to_message_id": None,
        "user": {"id": author, "name": author, "username": author},
        "view_count": None,
    }
    envelope = {
        "id": f"msg_bench{number}",
        "api_version": "v1",
        "api_version_date": "2026-10-15-1",
        "timestamp": stamp,
        "type": "chat.message.created",
        "account_id": "biz_bench",
        "data": {
            "reason": "message_created",
            "audience": {"type": "channel"},
            "channel": {"id": GROUP_DM, "type": "direct_message"},
            "message": message,
        },
    }
    return json.dumps(envelope).encode()


def measure_receiver(world: World, events: int, first: int, mode: str) -> dict[str, Any]:
    """``events`` signed deliveries into the group DM with ``WEBHOOK_APPLY = mode``.

    "request": each delivery is applied before the answer. "worker": the receiver stores the
    event and schedules a drain task (``dm_bridge.apply_webhook_events``, published to the
    bench's Redis broker; checked there), then this process runs that drain as a worker would
    (``webhooks.drain_received``), timed separately. Either way every event must end processed.
    """
    from django.conf import settings
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from dm_bridge import webhooks
    from dm_bridge.models import WebhookEvent

    client = Client()
    url = reverse("dm_bridge:webhook")
    base = datetime.now(UTC)
    prepared = []
    for i in range(events + 1):  # +1: the query-count delivery at the end
        number = first + i
        body = message_event(number, world.group_members[number % GROUP_SIZE], base)
        base += timedelta(milliseconds=1)
        msg_id, stamp = f"msg_bench{number}", int(time.time())
        prepared.append(
            (
                body,
                {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": sign(msg_id, stamp, body),
                },
            )
        )
    answer = "processed" if mode == "request" else "received"

    def deliver(body: bytes, headers: dict[str, str]) -> Any:
        response = client.post(url, data=body, content_type="application/json", headers=headers)
        if response.status_code != 200 or response.json().get("status") != answer:
            raise SystemExit(f"webhook answered {response.status_code}: {response.content[:300]!r}")
        return response

    queued_before = _queued_tasks()
    with override_settings(DM_BRIDGE={**settings.DM_BRIDGE, "WEBHOOK_APPLY": mode}):
        deliver(*prepared[0])  # warm-up
        times = []
        started, cpu_started = time.perf_counter(), time.process_time()
        for body, headers in prepared[1:-1]:
            t0 = time.perf_counter()
            deliver(body, headers)
            times.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        cpu_ms = (time.process_time() - cpu_started) * 1000 / len(times)
        with CaptureQueriesContext(connection) as queries:
            deliver(*prepared[-1])
    ids = [f"msg_bench{first + i}" for i in range(events + 1)]
    result: dict[str, Any] = {
        "mode": mode,
        "events": len(times),
        "events_per_second": len(times) / elapsed,
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "cpu_ms": cpu_ms,
        "queries": len(queries),
        "sql": [q["sql"] for q in queries.captured_queries],
    }
    if mode == "worker":
        # With the bench's shared Redis a burst publishes one drain task, not one per event.
        published = _queued_tasks() - queued_before
        if published < 1:
            raise SystemExit("no drain task reached Redis")
        started = time.perf_counter()
        applied = webhooks.drain_received(limit=len(ids) + 1)
        result["apply_per_second"] = applied / (time.perf_counter() - started)
        result["applied"] = applied
        result["published"] = published
    processed = WebhookEvent.objects.filter(
        webhook_id__in=ids, status=WebhookEvent.Status.PROCESSED
    ).count()
    if processed != len(ids):
        raise SystemExit(f"{processed} of {len(ids)} webhook events processed ({mode})")
    return result


def _queued_tasks() -> int:
    """Messages waiting in Celery's default queue on the bench's Redis (nothing consumes it)."""
    import redis

    return int(redis.Redis.from_url(os.environ["REDIS_URL"]).llen("celery"))


def measure_size(world: World, requests: int, events: int) -> dict[str, Any]:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(world.seller)
    urls = {
        "inbox": reverse("inbox"),
        "unread": reverse("dm_bridge:unread"),
        "channels": reverse("dm_bridge:channel-list"),
        "token": reverse("dm_bridge:chat-token"),
    }
    calls: dict[str, Callable[[], Any]] = {
        "inbox": lambda: client.get(urls["inbox"]),
        "unread": lambda: client.get(urls["unread"]),
        "channels": lambda: client.get(urls["channels"]),
        # The test client skips CSRF checks (DRF honours that too): no token to send.
        "token": lambda: client.post(urls["token"]),
    }
    row: dict[str, Any] = {"conversations": world.conversations}
    for name in ENDPOINTS:
        row[name] = measure(calls[name], requests)
    first = world.conversations * 10  # unique webhook IDs per size
    row["webhook"] = measure_receiver(world, events, first, "request")
    row["webhook_worker"] = measure_receiver(world, events, first + events + 1, "worker")
    return row


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------


def fmt_size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


def print_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| conversations | endpoint | p50 | p95 | queries | size |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        n = f"{row['conversations']:,}"
        for name in ENDPOINTS:
            m = row[name]
            lines.append(
                f"| {n} | {name} | {m['p50_ms']:.1f} ms | {m['p95_ms']:.1f} ms | "
                f"{m['queries']} | {fmt_size(m['bytes'])} |"
            )
        w = row["webhook"]
        lines.append(
            f"| {n} | webhook, applied in the request ({w['events_per_second']:.0f} events/s) | "
            f"{w['p50_ms']:.1f} ms | {w['p95_ms']:.1f} ms | {w['queries']} | — |"
        )
        w = row["webhook_worker"]
        lines.append(
            f"| {n} | webhook, stored for a worker ({w['events_per_second']:.0f} events/s; "
            f"one worker applies {w['apply_per_second']:.0f}/s) | "
            f"{w['p50_ms']:.1f} ms | {w['p95_ms']:.1f} ms | {w['queries']} | — |"
        )
    table = "\n".join(lines)
    print(table)
    return table


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """Each target, met or not, in one line."""
    largest = rows[-1]
    out = []
    for name in ENDPOINTS:
        p50 = largest[name]["p50_ms"]
        counts = sorted({row[name]["queries"] for row in rows})
        out.append(
            f"{name}: p50 {p50:.1f} ms at {largest['conversations']:,} "
            f"({'met' if p50 <= TARGET_P50_MS else 'NOT met'}, target ≤ {TARGET_P50_MS:.0f} ms); "
            f"queries {counts} ({'constant' if len(counts) == 1 else 'NOT constant'})"
        )
    for key, how in (
        ("webhook_worker", "stored for a worker"),
        ("webhook", "applied in the request"),
    ):
        rates = [row[key]["events_per_second"] for row in rows]
        out.append(
            f"webhook receiver, {how}: {min(rates):.0f}–{max(rates):.0f} events/s "
            f"({'met' if min(rates) >= TARGET_EVENTS_PER_SECOND else 'NOT met'}, target ≥ "
            f"{TARGET_EVENTS_PER_SECOND:.0f}); queries per event "
            f"{sorted({row[key]['queries'] for row in rows})}"
        )
    applied = [row["webhook_worker"]["apply_per_second"] for row in rows]
    out.append(
        f"webhook worker (one process, in-process calls): applies {min(applied):.0f}–"
        f"{max(applied):.0f} events/s"
    )
    for line in out:
        print(line)
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["conversations"] for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in ENDPOINTS:
        left.plot(sizes, [row[name]["p50_ms"] for row in rows], marker="o", label=f"{name} p50")
    left.axhline(TARGET_P50_MS, color="grey", linestyle="--", label="target (50 ms)")
    left.set_xscale("log")
    left.set_xlabel("conversations of one seller")
    left.set_ylabel("ms per request")
    left.set_title("Pages and API (PostgreSQL)")
    left.legend(fontsize=8)
    for key, label in (
        ("webhook_worker", "receiver, stored for a worker"),
        ("webhook", "receiver, applied in the request"),
    ):
        right.plot(sizes, [row[key]["events_per_second"] for row in rows], marker="o", label=label)
    right.plot(
        sizes,
        [row["webhook_worker"]["apply_per_second"] for row in rows],
        marker="x",
        linestyle=":",
        label="the worker applying them",
    )
    right.axhline(TARGET_EVENTS_PER_SECOND, color="grey", linestyle="--", label="target (300/s)")
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_xlabel("conversations of one seller")
    right.set_ylabel("events/s, one process")
    right.set_title("Webhook receiver, 50-member group DM")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    log(f"database {args.database_url} (drop + create + migrate), Redis {args.redis_url} (FLUSHDB)")
    recreate_database(args.database_url)
    flush_redis(args.redis_url)
    emulator = EmulatorProcess(log_file=LOG_DIR / "emulator.log")
    try:
        emulator.start()
        env = bench_env(
            emulator,
            settings_module=args.settings,
            database_url=args.database_url,
            redis_url=args.redis_url,
            limit_per_minute=60_000,
            log_level="WARNING",
            DJANGO_ALLOWED_HOSTS="testserver",
            DJANGO_SECURE_SSL_REDIRECT="0",
            WHOP_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        migrate(env)
        os.environ.update(env)
        import django

        django.setup()
        import logging

        logging.getLogger("dm_bridge").setLevel(logging.WARNING)  # no line per webhook
        logging.getLogger("django.request").setLevel(logging.ERROR)
        from django.conf import settings
        from django.test import override_settings

        # The endpoint's per-user throttle (30/min) would answer the timed requests with 429s.
        override_settings(
            DM_BRIDGE={**settings.DM_BRIDGE, "TOKEN_RATE_LIMIT": "1000000/min"}
        ).enable()
        world = World()
        rows = []
        for size in sizes:
            world.grow_to(size)
            rows.append(measure_size(world, args.requests, args.events))
            w, ww = rows[-1]["webhook"], rows[-1]["webhook_worker"]
            log(
                f"{size:,}: inbox {rows[-1]['inbox']['p50_ms']:.1f} ms, webhook "
                f"{w['events_per_second']:.0f}/s in the request, {ww['events_per_second']:.0f}/s "
                f"stored for a worker (applied at {ww['apply_per_second']:.0f}/s)"
            )
    finally:
        emulator.stop()
    table = print_table(rows)
    lines = verdict(rows)
    plot(rows, PLOT_FILE)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": code_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "args": vars(args),
        "rows": rows,
        "table": table,
        "verdict": lines,
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results in {RESULTS_FILE.relative_to(REPO)}, plot in {PLOT_FILE.relative_to(REPO)}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per endpoint")
    parser.add_argument("--events", type=int, default=300, help="webhook deliveries per size")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_web")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--settings", default="marketplace.settings")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
