"""Compare DM channels with Whop and queue whatever repairs them (services.reconcile_channel)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet

from dm_bridge import services
from dm_bridge.exceptions import DmBridgeConfigurationError, DmBridgeError
from dm_bridge.models import DmChannel

from ._helpers import plural, positive_int


class Command(BaseCommand):
    help = (
        "Reconcile DM channels with Whop: check each channel still exists there, and that its "
        "members and name match; local rows are the truth, so differences are queued for "
        "repair. Without --channel/--key it reconciles every channel that is on Whop and not "
        "deleted. Prints a report per channel and a summary; exits non-zero if any channel "
        "could not be checked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel",
            dest="channels",
            nargs="+",
            action="extend",
            metavar="ID",
            help="Channels by primary key or Whop channel ID (feed_…); may be repeated.",
        )
        parser.add_argument(
            "--key",
            dest="keys",
            action="append",
            metavar="KEY",
            help="Channels by business key, e.g. shop:12/buyer:34; may be repeated.",
        )
        parser.add_argument(
            "--status",
            choices=DmChannel.Status.values,
            help="Only channels in this status.",
        )
        parser.add_argument(
            "--limit", type=positive_int, metavar="N", help="Reconcile at most N channels."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if unknown := self.unknown_names(options):
            # A named channel that does not exist is a mistake (a typo, the wrong database),
            # not an empty selection: say so and fail, before reconciling the others.
            raise CommandError(
                f"No DM channel matches {', '.join(map(repr, unknown))} (--channel takes a "
                "primary key or a feed_… Whop channel ID, --key a business key)."
            )
        channels = list(self.select(options))
        if not channels:
            self.stdout.write("No channels match.")
            return
        self.stdout.write(f"Reconciling {plural(len(channels), 'channel')} with Whop…")
        in_sync = changed = skipped = errors = 0
        for channel in channels:
            label = (
                f"channel {channel.pk} {channel.key!r} ({channel.whop_channel_id or 'no Whop ID'})"
            )
            on_whop = bool(channel.whop_channel_id) and channel.status != DmChannel.Status.DELETED
            try:
                report = services.reconcile_channel(channel)
            except DmBridgeConfigurationError as exc:
                raise CommandError(str(exc)) from exc
            except DmBridgeError as exc:  # RowBusy, WhopError
                errors += 1
                self.stderr.write(f"{label}: {services.describe_error(exc)}")
                continue
            self.stdout.write(f"{label}: {report}")
            if not on_whop:
                skipped += 1
            elif report.changes:
                changed += 1
            else:
                in_sync += 1
        self.stdout.write(
            f"Reconciled {plural(len(channels), 'channel')}: {in_sync} in sync, "
            f"{changed} with repairs queued, {skipped} not on Whop (skipped), {errors} errors."
        )
        if errors:
            raise CommandError(
                f"{plural(errors, 'channel')} could not be reconciled (reasons above); run again."
            )

    def unknown_names(self, options: dict[str, Any]) -> list[str]:
        unknown = [
            ident
            for ident in options["channels"] or []
            if not DmChannel.objects.filter(
                Q(pk=int(ident)) if ident.isdigit() else Q(whop_channel_id=ident)
            ).exists()
        ]
        unknown += [
            key for key in options["keys"] or [] if not DmChannel.objects.filter(key=key).exists()
        ]
        return unknown

    def select(self, options: dict[str, Any]) -> QuerySet[DmChannel]:
        channels = DmChannel.objects.all()
        wanted = Q()
        for ident in options["channels"] or []:
            if ident.isdigit():
                wanted |= Q(pk=int(ident))
            else:
                wanted |= Q(whop_channel_id=ident)
        for key in options["keys"] or []:
            wanted |= Q(key=key)
        if wanted:
            channels = channels.filter(wanted)
        elif not options["status"]:
            channels = channels.exclude(status=DmChannel.Status.DELETED).exclude(whop_channel_id="")
        if options["status"]:
            channels = channels.filter(status=options["status"])
        channels = channels.order_by("pk")
        if options["limit"]:
            channels = channels[: options["limit"]]
        return channels
