"""Repair DMs opened before shops had identities (issue 10, item 2).

Before, a buyer's DMs with two shops of one owner had the same members, so Whop gave both
conversations one DM: a staff change in one shop reached the other's conversation. This adds
each shop's identity to all its DMs and gives *every* conversation that shares a Whop DM a
new one of its own. The shared DM is left on Whop, unused, so its history stays readable only
by those who were in it (the buyer and the owner); nobody added later joins it. Safe to run
again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dm_bridge.exceptions import DmBridgeError
from dm_bridge.models import DmChannel
from marketplace import services
from marketplace.models import Conversation, Shop


class Command(BaseCommand):
    help = "Give each shop's DMs the shop's identity and a Whop DM of their own."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only show what would change.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        sharing: dict[str, list[Conversation]] = defaultdict(list)
        live = (
            Conversation.objects.select_related("channel", "shop", "buyer")
            .exclude(channel__status=DmChannel.Status.DELETED)
            .exclude(channel__whop_channel_id="")
            .order_by("created_at", "pk")
        )
        for conversation in live:
            sharing[conversation.channel.whop_channel_id].append(conversation)
        moved = 0
        for whop_channel_id, group in sharing.items():
            if len(group) < 2:
                continue
            for conversation in group:
                self.stdout.write(
                    f"  conversation {conversation.pk} ({conversation}) shares {whop_channel_id} "
                    f"with {len(group) - 1} other(s): giving it a DM of its own"
                )
                if not dry_run:
                    services.move_to_own_dm(
                        conversation,
                        # Neutral: the other shop's staff must not learn about this one.
                        note=f"This conversation with {services.markdown_text(conversation.shop.name)} "
                        "now has a DM of its own; earlier messages stay in the previous DM.",
                    )
                moved += 1
        failed = []
        for shop in Shop.objects.order_by("pk"):
            if dry_run:
                continue
            try:
                services.sync_shop_members(shop)  # adds the shop's identity everywhere
            except DmBridgeError as exc:  # e.g. a team too large for a DM with the identity
                failed.append(shop)
                self.stderr.write(f"  shop {shop.pk} ({shop}): {exc}")
        verb = "would move" if dry_run else "moved"
        self.stdout.write(f"{verb} {moved} conversation(s) to a DM of their own")
        if failed:
            raise CommandError(f"{len(failed)} shop(s) could not be brought in line; see above")
        self.stdout.write(self.style.SUCCESS("done"))
