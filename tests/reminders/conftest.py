"""Reminder fixtures: a real SMTP server (aiosmtpd) that can be made to stall, and a DM fed by
signed webhooks through dm_bridge's real receiver."""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from django.test import Client

from dm_bridge.models import DmChannel, DmMember, Reminder, UnreadMessage
from tests.reliability.conftest import worker_env  # noqa: F401  (a fixture, for test_workers)
from tests.smtp import local_smtp_server
from tests.webhooks.conftest import (
    SECRET,
    active_channel,
    deliver,
    linked_user,
    message_event,
)

SITE_URL = "https://market.example"


class Mailbox:
    """What the SMTP server accepted, in order. ``stall_at`` ("RCPT" or "DATA") makes the next
    transaction wait at that step until ``release()``: a worker can be killed mid-send."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.stall_at = ""
        self.stalled = threading.Event()
        self.gate = threading.Event()

    async def _maybe_stall(self, step: str) -> None:
        if self.stall_at != step:
            return
        self.stall_at = ""
        self.stalled.set()
        import asyncio

        while not self.gate.is_set():
            await asyncio.sleep(0.05)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        await self._maybe_stall("RCPT")
        if address.startswith("refused"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)  # stored: from here on the sender cannot know
        await self._maybe_stall("DATA")
        return "250 Message accepted for delivery"

    def release(self) -> None:
        self.gate.set()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    @staticmethod
    def text(message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())

    @staticmethod
    def html(message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        return str(body.get_content())

    def links(self, message: EmailMessage, path_pattern: str) -> list[str]:
        return re.findall(rf"{re.escape(SITE_URL)}({path_pattern})", self.text(message))


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Mailbox]:
    """A local SMTP server on a free port, with Django's SMTP backend pointed at it."""
    mailbox = Mailbox()
    with local_smtp_server(settings, mailbox):
        settings.EMAIL_TIMEOUT = 5
        settings.DEFAULT_FROM_EMAIL = "Marketplace <noreply@market.example>"
        try:
            yield mailbox
        finally:
            mailbox.release()  # before the server stops: a stalled session would hold it up


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def reminder_settings(**overrides: Any) -> dict[str, Any]:
    return {
        "API_KEY": "apik_test",
        "COMPANY_ID": "biz_x",
        "TASKS_ENABLED": False,
        "WEBHOOK_SECRET": SECRET,
        "REMINDERS_ENABLED": True,
        "REMINDER_DELAY": 0,
        "REMINDER_WINDOW": 3600,
        "SITE_URL": SITE_URL,
        "REMINDER_ADAPTER": "tests.reminders.conftest.LinkingAdapter",
        **overrides,
    }


@dataclass
class Dm:
    """alice (user_alice) and bob (user_bob) in an active DM; ``say`` delivers a signed
    ``chat.message.created`` through the real receiver and returns the body sent."""

    channel: DmChannel
    alice: Any
    bob: Any
    client: Client

    def say(self, author: str = "user_alice", content: str = "hello bob", **kwargs: Any) -> str:
        body = message_event(author_id=author, content=content, **kwargs)
        response = deliver(self.client, body)
        assert response.status_code == 200, response.content
        return body

    def member(self, user: Any) -> DmMember:
        return DmMember.objects.get(channel=self.channel, user=user)


@pytest.fixture
def dm(settings: Any, make_user: Any) -> Dm:
    settings.DM_BRIDGE = reminder_settings()
    alice = linked_user(make_user, "alice")
    bob = linked_user(make_user, "bob")
    channel = active_channel("shop:1/buyer:2", [alice, bob])
    DmChannel.objects.filter(pk=channel.pk).update(custom_name="Steel touring bike")
    channel.refresh_from_db()
    return Dm(channel=channel, alice=alice, bob=bob, client=Client())


def reminders_for(user: Any) -> list[Reminder]:
    return list(Reminder.objects.filter(user=user).order_by("created_at"))


def unbatched(user: Any) -> int:
    return UnreadMessage.objects.filter(member__user=user, reminder__isnull=True).count()


class LinkingAdapter:
    """A host's reminder adapter: the conversation's page is /conversations/<channel>/."""

    def get_conversation_title(self, channel: Any, user: Any) -> str:
        return channel.custom_name or "a conversation"

    def get_conversation_url(self, channel: Any, user: Any) -> str:
        return f"/conversations/{channel.pk}/"

    def get_preferences_url(self, user: Any) -> str:
        return "/settings/notifications/"
