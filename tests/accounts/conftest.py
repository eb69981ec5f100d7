"""Account fixtures: a real SMTP server (aiosmtpd) that Django's SMTP backend delivers to."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest

from tests.smtp import local_smtp_server


class Mailbox:
    """What the SMTP server accepted, in order. Delivery is synchronous: Django's send returns
    after the server's 250 to DATA, by which time the message is stored here."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    def link(self, message: EmailMessage, path_pattern: str) -> str:
        """The one link in ``message`` whose path matches ``path_pattern`` (a regex)."""
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        links = re.findall(rf"https?://[^\s/]+({path_pattern})", body.get_content())
        assert len(set(links)) == 1, links
        return links[0]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """These tests hash a password on every sign-up and login; the real hasher takes ~0.3 s."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Mailbox]:
    """A local SMTP server on a free port, with Django's SMTP backend pointed at it."""
    mailbox = Mailbox()
    with local_smtp_server(settings, mailbox):
        yield mailbox
