"""Exactly-once reminders with real Celery worker and beat processes (PostgreSQL + Redis), a
real SMTP server, and workers killed in the middle of a send.

What these tests pin down (see dm_bridge/services/reminders.py for the guarantee):

* duplicate deliveries, lost tasks (a redeploy) and several workers give one email per batch;
* a worker killed before the server accepted the message: the reminder is sent once, later;
* a worker killed after the server accepted it but before ``sent`` was recorded — the one
  window SMTP leaves open: it is sent again with the same Message-ID, exactly one copy more.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from django.test import Client

from dm_bridge import services
from dm_bridge.models import Reminder
from tests.reliability.conftest import QUEUES, REPO, MarketplaceWorkers, wait_until
from tests.webhooks.conftest import SECRET, active_channel, deliver, linked_user, message_event

from .conftest import SITE_URL, Mailbox

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]


@pytest.fixture
def reminder_workers(
    worker_env: dict[str, str], settings: Any, smtp_server: Mailbox, tmp_path: Any
) -> Any:
    """Workers configured like this process: reminders on, no delay, SMTP to ``smtp_server``."""
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "WEBHOOK_SECRET": SECRET,
        "REMINDERS_ENABLED": True,
        "REMINDER_DELAY": 0,
        "REMINDER_WINDOW": 3600,
        "SITE_URL": SITE_URL,
    }
    env = {
        **worker_env,
        "DM_BRIDGE_REMINDERS": "1",
        "DM_BRIDGE_REMINDER_DELAY": "0",
        "DM_BRIDGE_REMINDER_WINDOW": "3600",
        "DM_BRIDGE_REMINDER_SCAN_INTERVAL": "1",
        "SITE_URL": SITE_URL,
        "EMAIL_HOST": settings.EMAIL_HOST,
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "EMAIL_USE_TLS": "0",
        "DEFAULT_FROM_EMAIL": settings.DEFAULT_FROM_EMAIL,
    }
    procs = MarketplaceWorkers("marketplace", env, tmp_path, cwd=REPO)
    try:
        yield procs
    finally:
        procs.stop()
        print(procs.logs())


def conversation(make_user: Any, n: int) -> tuple[Any, Any, str]:
    """A buyer (user_buyerN) writing to a seller (user_sellerN) on feed_rN."""
    buyer = linked_user(make_user, f"buyer{n}")
    seller = linked_user(make_user, f"seller{n}")
    active_channel(f"shop:{n}/buyer:{n}", [buyer, seller], whop_channel_id=f"feed_r{n}")
    return buyer, seller, f"feed_r{n}"


def say(channel_id: str, author: str, content: str = "hello") -> str:
    body = message_event(channel_id=channel_id, author_id=author, content=content)
    assert deliver(Client(), body).status_code == 200
    return body


def test_each_batch_is_emailed_once_across_duplicates_lost_tasks_and_two_workers(
    reminder_workers: MarketplaceWorkers, smtp_server: Mailbox, make_user: Any
) -> None:
    sellers = []
    for n in range(8):
        buyer, seller, feed = conversation(make_user, n)
        sellers.append(seller)
        body = say(feed, f"user_buyer{n}", "first")
        deliver(Client(), body)  # the same message again, as a new delivery
        say(feed, f"user_buyer{n}", "second")
    # Half the reminders are made here and their tasks lost, as in a redeploy.
    services.scan_reminders(limit=4)
    from marketplace.celery import app

    with app.connection_for_write() as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)
    assert Reminder.objects.filter(status=Reminder.Status.PENDING).count() == 4

    reminder_workers.worker("w1")
    reminder_workers.worker("w2")
    reminder_workers.beat()
    wait_until(
        lambda: Reminder.objects.filter(status=Reminder.Status.SENT).count() == 8,
        60,
        message="8 reminders sent",
    )
    time.sleep(3)  # three more scans: nothing more goes out
    for seller in sellers:
        [mail] = smtp_server.to(seller.email)
        assert mail["Subject"].strip().startswith("2 unread messages from buyer")
    assert len(smtp_server.messages) == 8
    assert all(r.attempts == 1 for r in Reminder.objects.all())


@pytest.mark.parametrize("stall_at", ["RCPT", "DATA"])
def test_a_worker_killed_mid_send(
    reminder_workers: MarketplaceWorkers, smtp_server: Mailbox, make_user: Any, stall_at: str
) -> None:
    buyer, seller, feed = conversation(make_user, 1)
    smtp_server.stall_at = stall_at
    # The victim's lease outlives its SMTP timeout (lease / 3), so only its death frees it.
    reminder_workers.env["DM_BRIDGE_LEASE_SECONDS"] = "15"
    victim = reminder_workers.worker("victim")
    reminder_workers.beat()
    say(feed, "user_buyer1", "are you there?")

    assert smtp_server.stalled.wait(30), "the send never reached the SMTP server"
    reminder = Reminder.objects.get()
    assert reminder.status == Reminder.Status.SENDING and reminder.attempts == 1
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    smtp_server.release()
    # Before DATA completed the server has nothing; after it, it has the message already.
    accepted_before_death = 1 if stall_at == "DATA" else 0
    assert len(smtp_server.messages) == accepted_before_death

    reminder_workers.env["DM_BRIDGE_LEASE_SECONDS"] = "4"
    reminder_workers.worker("rescuer")
    wait_until(
        lambda: Reminder.objects.get().status == Reminder.Status.SENT,
        60,
        message="the scan to resume the reminder after the lease expired",
    )
    time.sleep(3)
    reminder = Reminder.objects.get()
    assert reminder.attempts == 2
    mails = smtp_server.to(seller.email)
    assert len(mails) == accepted_before_death + 1
    # Every copy is the same message: a resend is recognisable by its Message-ID.
    assert {m["Message-ID"] for m in mails} == {reminder.message_id}
    assert smtp_server.to(buyer.email) == []
