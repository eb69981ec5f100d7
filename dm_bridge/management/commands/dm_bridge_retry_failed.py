"""Retry failed DM channels and Whop user links (services.retry for each)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet
from django.utils import timezone

from dm_bridge import services
from dm_bridge.conf import dm_bridge_settings
from dm_bridge.exceptions import DmBridgeConfigurationError, DmBridgeError
from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage, WhopUserLink

from ._helpers import non_negative_float, plural, positive_int, status_summary


class Command(BaseCommand):
    help = (
        "Retry failed work: DM channels that failed (or have a failed member or outbox message, "
        "or a deletion that gave up) and Whop user links that failed. Each row's failure count "
        "is reset and the work is enqueued again (or run here when DM_BRIDGE['TASKS_ENABLED'] "
        "is off). Without --channels/--users both kinds are retried."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channels", action="store_true", help="Retry failed DM channels.")
        parser.add_argument("--users", action="store_true", help="Retry failed Whop user links.")
        parser.add_argument(
            "--older-than",
            type=non_negative_float,
            metavar="MIN",
            help="Only rows whose last failure is at least MIN minutes old.",
        )
        parser.add_argument(
            "--limit", type=positive_int, metavar="N", help="Retry at most N rows of each kind."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be retried; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        both = not options["channels"] and not options["users"]
        cutoff = None
        if options["older_than"] is not None:
            cutoff = timezone.now() - timedelta(minutes=options["older_than"])
        totals: list[str] = []
        errors = 0
        if options["channels"] or both:
            channels = limited(failed_channels(cutoff), options["limit"])
            count, failed = self.retry_rows("channel", channels, options["dry_run"])
            totals.append(plural(count, "channel"))
            errors += failed
        if options["users"] or both:
            links = limited(failed_user_links(cutoff), options["limit"])
            count, failed = self.retry_rows("user link", links, options["dry_run"])
            totals.append(plural(count, "user link"))
            errors += failed
        verb = "Would retry" if options["dry_run"] else "Retried"
        self.stdout.write(f"{verb} {' and '.join(totals)}.")
        if errors:
            raise CommandError(f"{plural(errors, 'row')} could not be retried (reasons above).")

    def retry_rows(self, kind: str, rows: QuerySet[Any], dry_run: bool) -> tuple[int, int]:
        rows_list = list(rows)
        retried: list[Any] = []
        errors = 0
        for row in rows_list:
            line = f"{kind} {row.pk} {row}: {row.last_error or 'a member or message failed'}"
            if dry_run:
                self.stdout.write(f"  would retry {line}")
                continue
            try:
                services.retry(row)
            except DmBridgeConfigurationError as exc:
                raise CommandError(str(exc)) from exc
            except DmBridgeError as exc:
                errors += 1
                self.stderr.write(f"  {kind} {row.pk} {row}: {services.describe_error(exc)}")
                continue
            self.stdout.write(f"  retrying {line}")
            retried.append(row)
        if retried and not dm_bridge_settings.TASKS_ENABLED:
            self.stdout.write(
                f"  {plural(len(retried), kind)} retried here (TASKS_ENABLED is off); now: "
                f"{status_summary(retried)}"
            )
        return (len(rows_list) if dry_run else len(retried)), errors


def failed_channels(cutoff: Any) -> QuerySet[DmChannel]:
    def since() -> Q:
        return Q(last_error_at__lte=cutoff) if cutoff else Q()

    gave_up_deleting = Q(
        status=DmChannel.Status.DELETED,
        deleted_on_whop=False,
        next_attempt_at__isnull=True,
        failures__gt=0,
    )
    failed_members = DmMember.objects.filter(since(), status=DmMember.Status.FAILED)
    failed_messages = DmOutboxMessage.objects.filter(since(), status=DmOutboxMessage.Status.FAILED)
    return DmChannel.objects.filter(
        ((Q(status=DmChannel.Status.FAILED) | gave_up_deleting) & since())
        | Q(pk__in=failed_members.values("channel_id"))
        | Q(pk__in=failed_messages.values("channel_id"))
    ).order_by("pk")


def failed_user_links(cutoff: Any) -> QuerySet[WhopUserLink]:
    links = WhopUserLink.objects.filter(status=WhopUserLink.Status.FAILED).select_related("user")
    if cutoff:
        links = links.filter(last_error_at__lte=cutoff)
    return links.order_by("pk")


def limited(rows: QuerySet[Any], limit: int | None) -> QuerySet[Any]:
    return rows[:limit] if limit else rows
