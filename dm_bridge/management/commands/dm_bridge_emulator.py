"""Run the local Whop emulator wired to this project: its webhook URL and secret, and print the
``DM_BRIDGE`` settings that talk to it (the local-dev companion of ``runserver``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from dm_bridge.conf import dm_bridge_settings
from dm_bridge.testing import DEFAULT_API_KEY, DEFAULT_COMPANY_ID

DEFAULT_WEBHOOK_SECRET = "ws_emulator_dev_secret"


class Command(BaseCommand):
    help = (
        "Start the Whop emulator (python -m dm_bridge.emulator) for local development: it "
        "signs its webhooks with DM_BRIDGE['WEBHOOK_SECRET'] and sends them to this project's "
        "receiver (dm_bridge:webhook on --site). Prints the DM_BRIDGE settings to use, then "
        "runs until Ctrl+C."
    )
    requires_system_checks: list[str] = []  # it is how you get the settings the checks want

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="Emulator port (8765).")
        parser.add_argument(
            "--site",
            default="http://127.0.0.1:8000",
            help="Where runserver listens, for the webhook URL (http://127.0.0.1:8000).",
        )
        parser.add_argument(
            "--data",
            default=".whop-emulator.sqlite3",
            metavar="FILE",
            help="Keep the emulator's state in FILE across restarts ('' for memory only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            webhook_path = reverse("dm_bridge:webhook")
        except NoReverseMatch as exc:
            raise CommandError(
                "dm_bridge.urls is not included: add path('dm/', include('dm_bridge.urls')) to "
                "your urls.py so the emulator has a webhook receiver to call."
            ) from exc
        secret = _first(dm_bridge_settings.WEBHOOK_SECRET) or DEFAULT_WEBHOOK_SECRET
        api_key = dm_bridge_settings.API_KEY or DEFAULT_API_KEY
        company = dm_bridge_settings.COMPANY_ID or DEFAULT_COMPANY_ID
        url = f"http://127.0.0.1:{options['port']}"
        command = [
            sys.executable, "-m", "dm_bridge.emulator", "--port", str(options["port"]),
            "--api-key", f"{api_key}={company}",
            "--webhook-url", options["site"].rstrip("/") + webhook_path,
            "--webhook-secret", secret,
        ]  # fmt: skip
        if options["data"]:
            command += ["--data", options["data"]]
        self.stdout.write(
            "Settings for this emulator (DM_BRIDGE in your development settings):\n"
            f'    "API_KEY": "{api_key}",\n'
            f'    "COMPANY_ID": "{company}",\n'
            f'    "BASE_URL": "{url}/api/v1",\n'
            f'    "ELEMENTS_URL": "{url}/release/elements.js",\n'
            f'    "WEBHOOK_SECRET": "{secret}",\n'
            f"Webhooks go to {options['site'].rstrip('/')}{webhook_path}. Ctrl+C stops it."
        )
        self.stdout.flush()
        emulator = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module
        try:
            returncode = emulator.wait()
        except KeyboardInterrupt:  # let it stop cleanly (it saves its --data file)
            emulator.send_signal(signal.SIGINT)
            emulator.wait(timeout=15)
            return
        if returncode not in (0, -signal.SIGINT):
            raise CommandError(f"The emulator exited with code {returncode}.")


def _first(secret: Any) -> str:
    """WEBHOOK_SECRET may be a list (rotation); the emulator signs with the first."""
    if isinstance(secret, list | tuple):
        return str(secret[0]) if secret else ""
    return str(secret or "")
