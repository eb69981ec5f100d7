"""Docs as tests: the quickstart, exactly as docs/installation.md and docs/testing.md write it.

Builds dm_bridge's wheel, installs it into a fresh virtualenv (with pytest-django, nothing
else), creates a project with ``django-admin startproject mysite`` and applies every code
block marked ``<!-- quickstart: TARGET -->`` in document order: ``shell`` blocks are run in
the project, ``settings.py`` / ``urls.py`` blocks are appended to the project's files, any
other target is a file of that path (the first block creates it, later ones append). Then
``check``, ``makemigrations --check`` and ``migrate`` must pass, and pytest runs the docs' test
plus one that renders the docs' page with ``{% dm_chat %}``. Edit the docs, and this notices.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "installation.md", ROOT / "docs" / "testing.md"]
BLOCK = re.compile(r"<!-- quickstart: (\S+) -->\n```[\w-]*\n(.*?)\n```", re.S)
PROJECT_FILES = {"settings.py", "urls.py"}  # the files startproject puts in mysite/

pytestmark = [pytest.mark.host, pytest.mark.timeout(900)]

# Not from the docs: a signed-in member opens the docs' page and gets the chat.
PAGE_TEST = """
import pytest
from django.contrib.auth import get_user_model

from bookings.dm import open_booking_dm
from bookings.models import Booking


@pytest.mark.django_db
def test_booking_page_embeds_the_chat(client, dm_bridge_whop):
    User = get_user_model()
    guest = User.objects.create_user("guest", email="guest@example.com", password="pw")
    host = User.objects.create_user("host", email="host@example.com", password="pw")
    booking = Booking.objects.create(guest=guest, host=host)
    open_booking_dm(booking)
    client.force_login(guest)
    html = client.get(f"/bookings/{booking.pk}/").content.decode()
    assert 'data-testid="dm-chat"' in html
    assert '"whopChannelId": "feed_' in html  # already active: the work ran in the test
    assert dm_bridge_whop.elements_url in html
    assert "/static/dm_bridge/dm_bridge.css" in html
    client.force_login(User.objects.create_user("outsider", email="o@example.com"))
    assert "This conversation is not available." in client.get(f"/bookings/{booking.pk}/").content.decode()
"""


def quickstart_blocks() -> list[tuple[str, str]]:
    return [
        (target, body + "\n")
        for doc in DOCS
        for target, body in BLOCK.findall(doc.read_text(encoding="utf-8"))
    ]


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(  # noqa: S603
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_the_blocks_are_found() -> None:
    targets = [target for target, _ in quickstart_blocks()]
    assert targets[0] == "settings.py" and "urls.py" in targets and "shell" in targets
    assert "bookings/test_booking_dm.py" in targets and "conftest.py" in targets


def test_quickstart_from_the_docs_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DM_BRIDGE"))}
    env.pop("VIRTUAL_ENV", None)
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], ROOT, env)
    (wheel,) = dist.glob("dm_bridge-*.whl")

    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    python = str(bin_dir / "python")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    run(
        [python, "-m", "pip", "install", "-q", str(wheel), "pytest", "pytest-django"], tmp_path, env
    )

    run([str(bin_dir / "django-admin"), "startproject", "mysite"], tmp_path, env)
    project = tmp_path / "mysite"
    written: set[str] = set()
    for target, body in quickstart_blocks():
        if target == "shell":
            for line in filter(None, body.splitlines()):
                run(
                    [python, *line.split()[1:]] if line.startswith("python ") else line.split(),
                    project,
                    env,
                )
            continue
        path = project / "mysite" / target if target in PROJECT_FILES else project / target
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if target in PROJECT_FILES or target in written else "w"
        with path.open(mode, encoding="utf-8") as handle:
            handle.write(("\n" if mode == "a" else "") + body)
        written.add(target)
    (project / "bookings" / "test_page_harness.py").write_text(PAGE_TEST, encoding="utf-8")

    manage = [python, "manage.py"]
    assert "System check identified no issues" in run([*manage, "check"], project, env)
    run([*manage, "makemigrations", "bookings"], project, env)
    run([*manage, "makemigrations", "--check", "--dry-run"], project, env)
    run([*manage, "migrate", "-v", "0"], project, env)
    out = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert re.search(r"\b2 passed\b", out), out
