"""Give every local user a Whop identity ahead of time (bulk backfill), resumably."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from dm_bridge import services
from dm_bridge.conf import dm_bridge_settings
from dm_bridge.exceptions import DmBridgeConfigurationError, DmBridgeError, RowBusy
from dm_bridge.models import WhopUserLink
from dm_bridge.ratelimit import RateLimitDeferred
from dm_bridge.whop import WhopError

from ._helpers import plural, positive_int, status_summary


class Command(BaseCommand):
    help = (
        "Provision Whop identities (connected accounts under DM_BRIDGE['COMPANY_ID']) for users "
        "without an active Whop link, in primary-key order. By default the work runs here, paced "
        "by the rate limiter, with a progress line per batch; --enqueue hands it to Celery "
        "workers instead. Users already linked are skipped, so re-running resumes where an "
        "interrupted run stopped. Inactive users are skipped. Exits non-zero if any user could "
        "not be linked (each is printed with the reason)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Create pending links and enqueue dm_bridge.drive_user_link for each, instead "
            "of provisioning here; workers (and the sweeper) do the rest.",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=100,
            metavar="N",
            help="Users read per query, and how often progress is printed (default 100).",
        )
        parser.add_argument(
            "--limit",
            type=positive_int,
            metavar="N",
            help="Handle at most N users this run (the next run continues after them).",
        )
        parser.add_argument(
            "--user-id",
            dest="user_ids",
            type=int,
            nargs="+",
            action="extend",
            metavar="ID",
            help="Only these users (primary keys); may be repeated.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = self.users_to_link(options["user_ids"])
        total = users.count()
        if options["limit"]:
            total = min(total, options["limit"])
        if not total:
            self.stdout.write("Nothing to do: every selected user already has an active Whop link.")
            return
        mode = "enqueueing" if options["enqueue"] else "linking"
        self.stdout.write(
            f"{mode.capitalize()} {plural(total, 'user')} without an active Whop link…"
        )
        if options["enqueue"]:
            self.enqueue(users, total, options["batch_size"])
        else:
            self.link_inline(users, total, options["batch_size"])

    def users_to_link(self, user_ids: list[int] | None) -> QuerySet[Any]:
        user_model = get_user_model()
        users = user_model._default_manager.exclude(whop_link__status=WhopUserLink.Status.ACTIVE)
        if any(f.name == "is_active" for f in user_model._meta.get_fields()):
            users = users.filter(is_active=True)
        if user_ids:
            users = users.filter(pk__in=user_ids)
        return users.order_by("pk")

    def batches(self, users: QuerySet[Any], total: int, batch_size: int) -> Any:
        """Batches by primary key (keyset), so users linked meanwhile never shift the window."""
        done, last_pk = 0, None
        while done < total:
            page = users if last_pk is None else users.filter(pk__gt=last_pk)
            batch = list(page[: min(batch_size, total - done)])
            if not batch:
                return
            yield batch
            done += len(batch)
            last_pk = batch[-1].pk

    # --- inline ----------------------------------------------------------------------------

    def link_inline(self, users: QuerySet[Any], total: int, batch_size: int) -> None:
        started = time.monotonic()
        done = linked = failed = busy = 0
        for batch in self.batches(users, total, batch_size):
            for user in batch:
                outcome = self.link_one(user)
                done += 1
                linked += outcome == "linked"
                failed += outcome == "failed"
                busy += outcome == "busy"
            rate = done / max(time.monotonic() - started, 1e-6)
            extra = f", busy {busy}" if busy else ""
            self.stdout.write(
                f"[{done}/{total}] linked {linked}, failed {failed}{extra}, {rate:.1f}/s"
            )
        self.stdout.write(
            f"Done in {time.monotonic() - started:.1f}s: linked {linked}, failed {failed}"
            + (f", {busy} busy (being provisioned by a worker)" if busy else "")
            + "."
        )
        if failed:
            raise CommandError(
                f"{plural(failed, 'user')} could not be linked (reasons above). Fix them and run "
                "the command again: linked users are skipped."
            )

    def link_one(self, user: Any) -> str:
        while True:
            try:
                services.ensure_whop_user(user)
                return "linked"
            except RateLimitDeferred as exc:
                # Nothing was sent and the link is unchanged: wait for the slot, then go on.
                time.sleep(exc.retry_after)
            except RowBusy:
                self.stderr.write(
                    f"  user {user.pk} ({user}): being provisioned by a worker; skipped"
                )
                return "busy"
            except DmBridgeConfigurationError as exc:
                raise CommandError(str(exc)) from exc
            except DmBridgeError as exc:
                note = " (will be retried)" if isinstance(exc, WhopError) and exc.retryable else ""
                self.stderr.write(
                    f"  user {user.pk} ({user}): {services.describe_error(exc)}{note}"
                )
                return "failed"

    # --- enqueue ---------------------------------------------------------------------------

    def enqueue(self, users: QuerySet[Any], total: int, batch_size: int) -> None:
        done = created = 0
        links: list[WhopUserLink] = []
        for batch in self.batches(users, total, batch_size):
            batch = list(batch)
            had_link = WhopUserLink.objects.filter(user__in=batch).count()
            try:
                done += services.enqueue_user_sync(batch)
            except DmBridgeConfigurationError as exc:
                raise CommandError(str(exc)) from exc
            created += len(batch) - had_link
            links += WhopUserLink.objects.filter(user__in=batch)
            self.stdout.write(f"[{done}/{total}] enqueued {done} ({created} new links)")
        if dm_bridge_settings.TASKS_ENABLED:
            self.stdout.write(
                f"Enqueued {plural(done, 'user')}; Celery workers provision them and the sweeper "
                "re-enqueues any lost work. Follow progress in the admin (Whop user links)."
            )
            return
        summary = status_summary(links)
        self.stdout.write(f"DM_BRIDGE['TASKS_ENABLED'] is off, so the work ran here: {summary}.")
        failed = sum(link.status == WhopUserLink.Status.FAILED for link in links)
        if failed:
            raise CommandError(
                f"{plural(failed, 'user')} could not be linked; see their last error in the admin."
            )
