"""The Procfile and the Dockerfile, read as text (no Docker engine is needed or assumed)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_procfile_processes():
    lines = (ROOT / "Procfile").read_text().splitlines()
    processes = dict(line.split(": ", 1) for line in lines if line.strip())
    assert processes == {
        "release": "python manage.py migrate --no-input",
        "web": "gunicorn marketplace.wsgi:application --bind 0.0.0.0:${PORT:-8000} --access-logfile -",
        "worker": "celery -A marketplace worker -l INFO -Q celery,dm_bridge_sweep,dm_bridge_backlog",
        "beat": "celery -A marketplace beat -l INFO",
    }


def test_procfile_dev_is_separate():
    assert "emulator:" in (ROOT / "Procfile.dev").read_text()
    assert "emulator" not in (ROOT / "Procfile").read_text()


def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1) for line in text.splitlines() if re.match(r"^[A-Z]+ ", line)
    ]
    args = {keyword: rest for keyword, rest in instructions}

    assert args["FROM"] == "python:3.11-slim"
    assert args["USER"] not in {"root", "0"}
    assert args["EXPOSE"] == "8000"
    assert "gunicorn marketplace.wsgi:application --bind 0.0.0.0:8000" in args["CMD"]
    assert "--workers ${WEB_CONCURRENCY:-3}" in args["CMD"]
    # Dependencies are installed from requirements.txt alone, before the source is copied.
    copies = [i for i, (keyword, _) in enumerate(instructions) if keyword == "COPY"]
    assert [instructions[i][1] for i in copies] == ["requirements.txt ./", ". ."]
    between = [rest for _, rest in instructions[copies[0] + 1 : copies[1]]]
    assert "pip install -r requirements.txt" in between
    assert "collectstatic --no-input" in text
    assert not re.search(r"^(ENV|ARG) .*SECRET", text, flags=re.MULTILINE)
    # collectstatic runs as the app user, after USER.
    assert text.index("USER ") < text.index("collectstatic")


def test_dockerignore():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", "test-artifacts", ".git", "**/__pycache__", ".env"} <= ignored


def test_every_worker_consumes_dm_bridges_queues():
    # Without them the sweeper and a flooding requester's channels would never run.
    from dm_bridge.conf import DEFAULTS

    wanted = {"celery", DEFAULTS["SWEEP_QUEUE"], DEFAULTS["BACKLOG_QUEUE"]}
    for name in ("Procfile", "Procfile.dev", "docker-compose.yml"):
        text = (ROOT / name).read_text()
        queues = re.search(r"-Q\s+(?:-\s+)?([\w,]+)", text)  # a command line or a YAML list
        assert queues, f"{name}: the worker names no queues"
        assert set(queues.group(1).split(",")) == wanted, name
