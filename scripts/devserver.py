"""Start Django's dev server and print the URL once it answers (run via scripts/wait_for_emulator.py)."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

port = os.environ.get("WEB_PORT", "8000")
url = f"http://127.0.0.1:{port}/"
server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
    [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
)
# honcho stops processes with SIGTERM (SIGINT on Ctrl+C): pass it on to the server.
for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda s, _frame: server.send_signal(s))

deadline = time.monotonic() + 60
while server.poll() is None and time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url + "healthz", timeout=2)  # noqa: S310 - local URL
        break
    except urllib.error.HTTPError:
        break  # it answers (e.g. a 503 from /healthz): ready enough to print the URL
    except OSError:
        time.sleep(0.2)
if server.poll() is None:
    print(
        f"\n    Marketplace ready: {url}"
        "\n    Log in as alice (buyer) or bob (seller); password: marketplace-demo\n",
        flush=True,
    )
sys.exit(server.wait())
