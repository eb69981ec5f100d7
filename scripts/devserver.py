"""Start Django's dev server once the emulator answers, and print the URL to open."""

import os
import sys
import time
import urllib.request

port = os.environ.get("PORT", "8000")
emulator = os.environ.get(
    "WHOP_EMULATOR_URL", f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '8765')}"
)
os.environ["WHOP_EMULATOR_URL"] = emulator

for _ in range(100):
    try:
        urllib.request.urlopen(f"{emulator}/_emulator/health", timeout=1)  # noqa: S310 - local URL
        break
    except OSError:
        time.sleep(0.1)
else:
    print(
        f"The Whop emulator at {emulator} did not start; see the emulator lines above.",
        file=sys.stderr,
    )

print(f"\n    Marketplace ready: http://127.0.0.1:{port}/\n", flush=True)
os.execv(
    sys.executable, [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
)  # noqa: S606
