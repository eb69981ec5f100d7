"""Start Django's dev server and print the URL to open (run via scripts/wait_for_emulator.py)."""

import os
import sys

port = os.environ.get("WEB_PORT", "8000")
print(
    f"\n    Marketplace ready: http://127.0.0.1:{port}/"
    "\n    Log in as alice (buyer) or bob (seller); password: marketplace-demo\n",
    flush=True,
)
os.execv(sys.executable, [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])  # noqa: S606
