"""Wait until the Whop emulator answers, then exec the given command (used by Procfile.dev)."""

import os
import sys
import time
import urllib.request

emulator = (
    os.environ.get("WHOP_EMULATOR_URL")
    or f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '8765')}"
)
for _ in range(150):
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
os.execvp(sys.argv[1], sys.argv[1:])  # noqa: S606
