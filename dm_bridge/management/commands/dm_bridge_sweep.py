"""Run the sweeper once: re-enqueue (or, with TASKS_ENABLED off, run) all work that is due."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dm_bridge import services

from ._helpers import plural, positive_int


class Command(BaseCommand):
    help = (
        "Pick up every DM channel and Whop user link whose work is due and not held by a worker: "
        "retries whose time has come and work lost to a killed worker or a broker outage. "
        "Celery beat runs this as the dm_bridge.sweep task; sites with DM_BRIDGE['TASKS_ENABLED'] "
        "off run this command from cron instead (the work then runs here)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=positive_int,
            default=500,
            metavar="N",
            help="At most N rows of each kind (500).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = services.sweep(limit=options["limit"])
        self.stdout.write(
            f"Swept {plural(counts['channels'], 'channel')} and {plural(counts['user_links'], 'user link')}."
        )
