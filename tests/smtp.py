"""A real SMTP server for tests (aiosmtpd on a free local port), with Django pointed at it.

Each test family keeps its own handler (what it records of the messages); this module only
starts the server and wires ``EMAIL_*`` to it, so both stay in one place.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_smtp_server(settings: Any, handler: Any) -> Iterator[Controller]:
    """Run ``handler`` (an aiosmtpd handler) as a local SMTP server while the block runs, with
    Django's SMTP backend pointed at it (no credentials, no TLS)."""
    smtp_log = logging.getLogger("mail.log")  # aiosmtpd logs every SMTP command at INFO
    level = smtp_log.level
    smtp_log.setLevel(logging.WARNING)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = controller.hostname
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield controller
    finally:
        controller.stop()
        smtp_log.setLevel(level)
