"""Email reminders end to end in one process: signed webhooks into the real receiver, the scan,
and delivery over SMTP to a real local server (work runs inline on commit)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dm_bridge import services, signals
from dm_bridge.checks import check_settings
from dm_bridge.models import DmMember, Reminder, ReminderPreference, UnreadMessage
from dm_bridge.services import reminders
from dm_bridge.unread import mark_read
from tests.webhooks.conftest import (
    WHOP_CHANNEL_ID,
    active_channel,
    deliver,
    linked_user,
    signed_headers,
)

from .conftest import SITE_URL, Dm, Mailbox, reminder_settings, reminders_for, unbatched

pytestmark = pytest.mark.django_db(transaction=True)


def scan() -> dict[str, int]:
    return services.scan_reminders()


def test_one_email_per_batch_with_count_authors_preview_and_deep_link(
    dm: Dm, smtp_server: Mailbox
) -> None:
    dm.say(content="Is the bike still available?")
    dm.say(content="Also: does it have   a rack?")
    dm.say(author="user_bob", content="bob's own message")  # bob read up to here: not unread
    dm.say(content="Hello again")

    assert scan()["batches"] == 1
    assert smtp_server.to("alice@example.com") == []  # never about their own messages
    [mail] = smtp_server.to("bob@example.com")
    assert mail["Subject"].strip() == "1 unread message from alice · Steel touring bike"
    text = smtp_server.text(mail)
    assert "alice: Hello again" in text and "Is the bike" not in text  # read when bob wrote
    assert smtp_server.links(mail, r"/conversations/\d+/") == [f"/conversations/{dm.channel.pk}/"]
    html = smtp_server.html(mail)
    assert f'href="{SITE_URL}/conversations/{dm.channel.pk}/"' in html
    # RFC 8058 one-click unsubscribe, a stable Message-ID derived from the row.
    [unsubscribe] = smtp_server.links(mail, r"/dm/reminders/unsubscribe/[^/\s]+/")
    assert mail["List-Unsubscribe"].strip() == f"<{SITE_URL}{unsubscribe}>"  # may be folded
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Auto-Submitted"] == "auto-generated"
    [reminder] = reminders_for(dm.bob)
    assert mail["Message-ID"] == reminder.message_id and "@market.example>" in reminder.message_id
    assert reminder.status == Reminder.Status.SENT and reminder.attempts == 1
    assert reminder.recipient == "bob@example.com" and reminder.message_count == 1
    assert "Accepted by the mail server 127.0.0.1:" in reminder.delivery
    assert scan()["batches"] == 0 and len(smtp_server.messages) == 1


def test_several_messages_make_one_email_that_counts_them(dm: Dm, smtp_server: Mailbox) -> None:
    for text in ("one", "two", "three"):
        dm.say(content=text)
    scan()
    [mail] = smtp_server.messages
    assert mail["Subject"].strip().startswith("3 unread messages from alice")
    assert [
        line for line in smtp_server.text(mail).splitlines() if line.startswith("  alice:")
    ] == [
        "  alice: one",
        "  alice: two",
        "  alice: three",
    ]


def test_duplicate_and_out_of_order_webhooks_count_each_message_once(
    dm: Dm, smtp_server: Mailbox
) -> None:
    body = dm.say(content="first")
    # The same delivery again (same webhook-id) and the same message as a new delivery.
    headers = signed_headers(body, msg_id="msg_fixed")
    assert deliver(dm.client, body, headers).status_code == 200
    assert deliver(dm.client, body, headers).json() == {"status": "duplicate"}
    assert deliver(dm.client, body).status_code == 200
    # An older message arriving late is still unread for bob: it joins the batch.
    dm.say(content="earlier", created_at=timezone.now() - timedelta(minutes=5))
    assert UnreadMessage.objects.filter(member__user=dm.bob).count() == 2
    scan()
    scan()
    [mail] = smtp_server.messages
    assert mail["Subject"].strip().startswith("2 unread messages")


def test_a_whop_dm_shared_by_two_local_rows_records_one_unread_message_per_user(
    dm: Dm,
) -> None:
    # Same member set, another key: Whop keeps one DM, so both rows share WHOP_CHANNEL_ID.
    second = active_channel("shop:1/buyer:2/listing:9", [dm.alice, dm.bob])
    dm.say(content="first")
    [unread] = UnreadMessage.objects.filter(member__user=dm.bob)
    assert unread.member.channel_id == dm.channel.pk  # the first row's membership, once
    # Muted on the first row only: the message is still unread on the second row.
    DmMember.objects.filter(channel=dm.channel, user=dm.bob).update(muted=True)
    dm.say(content="second")
    latest = UnreadMessage.objects.filter(member__user=dm.bob).exclude(pk=unread.pk)
    assert [row.member.channel_id for row in latest] == [second.pk]
    assert not UnreadMessage.objects.filter(member__user=dm.alice).exists()  # the author


def test_nothing_before_the_delay_and_reading_resets_it(
    dm: Dm, smtp_server: Mailbox, settings: Any
) -> None:
    settings.DM_BRIDGE = reminder_settings(REMINDER_DELAY=300)
    dm.say()
    assert scan()["batches"] == 0
    mark_read(dm.bob, WHOP_CHANNEL_ID)  # bob reads it within the delay
    UnreadMessage.objects.update(received_at=timezone.now() - timedelta(minutes=10))
    assert scan()["batches"] == 0
    assert smtp_server.messages == [] and unbatched(dm.bob) == 0  # dropped, read

    dm.say(content="are you there?")
    UnreadMessage.objects.update(received_at=timezone.now() - timedelta(minutes=10))
    assert scan()["batches"] == 1
    assert "are you there?" in smtp_server.text(smtp_server.messages[0])


def test_at_most_one_reminder_per_window_then_the_next_batch(dm: Dm, smtp_server: Mailbox) -> None:
    dm.say(content="first")
    scan()
    dm.say(content="second")
    dm.say(content="third")
    assert scan()["batches"] == 0  # inside the window: they wait
    assert len(smtp_server.messages) == 1 and unbatched(dm.bob) == 2

    Reminder.objects.update(created_at=timezone.now() - timedelta(hours=2))  # window over
    assert scan()["batches"] == 1
    first, second = smtp_server.messages
    assert second["Subject"].strip().startswith("2 unread messages")
    assert "first" not in smtp_server.text(second) and "third" in smtp_server.text(second)
    assert first["Message-ID"] != second["Message-ID"]


def test_read_after_the_batch_was_made_means_no_email(dm: Dm, smtp_server: Mailbox) -> None:
    dm.say()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            reminders, "dispatch_reminder", lambda pk, countdown=None: None
        )  # not sent yet
        scan()
    mark_read(dm.bob, WHOP_CHANNEL_ID)
    assert services.send_reminder(Reminder.objects.get().pk) == "skipped"
    assert smtp_server.messages == []
    assert Reminder.objects.get().status == Reminder.Status.SKIPPED


def test_no_reminder_for_someone_no_longer_a_member(dm: Dm, smtp_server: Mailbox) -> None:
    dm.say()
    DmMember.objects.filter(user=dm.bob).update(status=DmMember.Status.REMOVED)
    scan()
    assert smtp_server.messages == [] and Reminder.objects.count() == 0
    dm.say(content="after removal")  # not even recorded
    assert UnreadMessage.objects.filter(member__user=dm.bob).count() == 0


def test_no_reminder_for_a_muted_membership(dm: Dm, smtp_server: Mailbox) -> None:
    dm.say()
    DmMember.objects.filter(user=dm.bob).update(muted=True)
    scan()
    dm.say(content="while muted")
    scan()
    assert smtp_server.messages == [] and UnreadMessage.objects.count() == 0


def test_the_apps_notes_alone_send_nothing_but_count_with_a_persons(
    dm: Dm, smtp_server: Mailbox
) -> None:
    dm.say(author="user_app_bot", content="About: Steel touring bike")  # not a local user
    assert scan()["batches"] == 0 and smtp_server.messages == []
    dm.say(content="Is it still for sale?")
    scan()
    [mail] = smtp_server.to("bob@example.com")
    assert mail["Subject"].strip().startswith("2 unread messages from user_app_bot, alice")
    assert "  user_app_bot: About: Steel touring bike" in smtp_server.text(mail)
    assert smtp_server.to("alice@example.com") == []  # only the app's note is unread for her


def test_preview_off_stores_and_shows_no_content(
    dm: Dm, smtp_server: Mailbox, settings: Any
) -> None:
    settings.DM_BRIDGE = reminder_settings(REMINDER_PREVIEW=False)
    dm.say(content="my secret address is 1 Main St")
    assert UnreadMessage.objects.get().preview == ""
    scan()
    [mail] = smtp_server.messages
    assert "Main St" not in mail.as_string()
    assert "1 new message from alice" in smtp_server.text(mail)


def test_preferences_off_and_daily_digest(
    dm: Dm, smtp_server: Mailbox, settings: Any, make_user: Any
) -> None:
    services.set_reminder_frequency(dm.bob, "off")
    dm.say()
    scan()
    assert smtp_server.messages == [] and unbatched(dm.bob) == 0

    services.set_reminder_frequency(dm.bob, "daily")
    settings.DM_BRIDGE = reminder_settings(REMINDER_DIGEST_HOUR=0)
    other = active_channel("shop:2/buyer:2", [dm.alice, dm.bob], whop_channel_id="feed_test_2")
    dm.say(content="about the bike")
    dm.say(content="about the lamp", channel_id="feed_test_2")
    assert scan()["digests"] == 1
    assert scan()["digests"] == 0  # one per day
    [digest] = smtp_server.to("bob@example.com")
    assert digest["Subject"].strip() == "2 unread messages in 2 conversations"
    text = smtp_server.text(digest)
    assert f"/conversations/{dm.channel.pk}/" in text and f"/conversations/{other.pk}/" in text
    assert Reminder.objects.get(user=dm.bob).kind == Reminder.Kind.DIGEST


def test_email_off_sends_only_the_signal(dm: Dm, smtp_server: Mailbox, settings: Any) -> None:
    settings.DM_BRIDGE = reminder_settings(REMINDER_EMAIL=False)
    due: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    def on_due(sender: Any, **kwargs: Any) -> None:
        due.append(kwargs)

    def on_sent(sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs)

    signals.dm_reminder_due.connect(on_due, weak=False)
    signals.dm_reminder_sent.connect(on_sent, weak=False)
    try:
        dm.say(content="ping")
        scan()
    finally:
        signals.dm_reminder_due.disconnect(on_due)
        signals.dm_reminder_sent.disconnect(on_sent)
    assert smtp_server.messages == []
    [call] = due
    assert call["user"] == dm.bob and [m.preview for m in call["messages"]] == ["ping"]
    assert [s["reminder"].pk for s in sent] == [call["reminder"].pk]
    assert Reminder.objects.get().status == Reminder.Status.SENT


def test_a_refusing_server_fails_the_reminder_and_retry_now_sends_it(
    dm: Dm, smtp_server: Mailbox
) -> None:
    type(dm.bob).objects.filter(pk=dm.bob.pk).update(email="refused@example.com")
    EmailAddress.objects.filter(user=dm.bob).update(email="refused@example.com")
    dm.say()
    scan()
    reminder = Reminder.objects.get()
    assert reminder.status == Reminder.Status.FAILED
    assert "550" in reminder.last_error and smtp_server.messages == []

    type(dm.bob).objects.filter(pk=dm.bob.pk).update(email="bob@example.com")
    EmailAddress.objects.filter(user=dm.bob).update(email="bob@example.com")
    services.retry_reminder(reminder)
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT and reminder.attempts == 2
    assert len(smtp_server.to("bob@example.com")) == 1


def test_an_unverified_address_is_never_mailed(dm: Dm, smtp_server: Mailbox) -> None:
    EmailAddress.objects.filter(user=dm.bob).update(verified=False)
    dm.say()
    scan()
    assert smtp_server.messages == []
    assert Reminder.objects.get().delivery == "The user has no verified email address."


def test_a_server_that_is_down_is_retried_by_the_scan(
    dm: Dm, smtp_server: Mailbox, settings: Any
) -> None:
    from tests.smtp import free_port

    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nobody listens there
    dm.say()
    scan()
    reminder = Reminder.objects.get()
    assert reminder.status == Reminder.Status.PENDING and reminder.failures == 1
    assert "ConnectionRefusedError" in reminder.last_error

    settings.EMAIL_PORT = port
    Reminder.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    assert scan()["resumed"] == 1
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT and reminder.attempts == 2
    assert len(smtp_server.messages) == 1


# --- unsubscribe (RFC 8058) ---------------------------------------------------------------


def unsubscribe_path(user: Any) -> str:
    return reverse("dm_bridge:reminder-unsubscribe", args=[reminders.unsubscribe_token(user)])


def test_one_click_unsubscribe_needs_no_login_and_no_csrf(dm: Dm) -> None:
    client = Client(enforce_csrf_checks=True)
    path = unsubscribe_path(dm.bob)
    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe" in page.content
    assert services.reminder_frequency(dm.bob) == "batch"  # GET changes nothing

    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and b"Unsubscribed" in response.content
    assert ReminderPreference.objects.get(user=dm.bob).frequency == "off"
    assert services.reminder_frequency(dm.alice) == "batch"


@pytest.mark.parametrize("kind", ["tampered", "other_purpose", "expired"])
def test_unsubscribe_refuses_bad_links(dm: Dm, settings: Any, kind: str) -> None:
    if kind == "tampered":
        token = reminders.unsubscribe_token(dm.bob)[:-2] + "xx"
    elif kind == "other_purpose":
        token = signing.dumps({"u": dm.bob.pk}, salt="something.else")
    else:
        token = reminders.unsubscribe_token(dm.bob)
        settings.DM_BRIDGE = reminder_settings(REMINDER_UNSUBSCRIBE_MAX_AGE=0.001)
        import time

        time.sleep(1.1)
    path = reverse("dm_bridge:reminder-unsubscribe", args=[token])
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert not ReminderPreference.objects.exists()


# --- REST API and admin -------------------------------------------------------------------


def test_preference_api(dm: Dm) -> None:
    client = Client(enforce_csrf_checks=True)
    url = reverse("dm_bridge:reminder-preference")
    assert client.get(url).status_code == 403
    client.force_login(dm.bob)
    assert client.get(url).json() == {"frequency": "batch"}
    assert client.put(url, {"frequency": "off"}, content_type="application/json").status_code == 403
    token = client.get(reverse("home")).cookies.get("csrftoken")
    csrf = {"X-CSRFToken": token.value} if token else {}
    if not csrf:  # no page set the cookie yet: ask Django for one the usual way
        from django.middleware.csrf import get_token
        from django.test import RequestFactory

        request = RequestFactory().get("/")
        csrf = {"X-CSRFToken": get_token(request)}
        client.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    put = client.put(url, {"frequency": "daily"}, content_type="application/json", headers=csrf)
    assert put.status_code == 200 and put.json() == {"frequency": "daily"}
    assert services.reminder_frequency(dm.bob) == "daily"
    for bad in ({"frequency": "weekly"}, {"frequency": 1}, {}, {"frequency": None}):
        answer = client.put(url, bad, content_type="application/json", headers=csrf)
        assert answer.status_code == 400, bad
        assert "frequency" in answer.json()
    assert services.reminder_frequency(dm.bob) == "daily"


def test_admin_lists_reminders_with_their_messages(
    dm: Dm, smtp_server: Mailbox, admin_client: Client
) -> None:
    dm.say(content="shown in admin")
    scan()
    reminder = Reminder.objects.get(user=dm.bob)
    listing = admin_client.get(reverse("admin:dm_bridge_reminder_changelist"))
    assert listing.status_code == 200 and b"bob@example.com" in listing.content
    page = admin_client.get(reverse("admin:dm_bridge_reminder_change", args=[reminder.pk]))
    assert page.status_code == 200
    assert (
        b"shown in admin" in page.content
        and reminder.message_id.encode()
        in page.content.replace(b"&lt;", b"<").replace(b"&gt;", b">")
    )


def test_checks_warn_without_a_site_url(settings: Any) -> None:
    settings.DM_BRIDGE = reminder_settings(SITE_URL="")
    assert "dm_bridge.W005" in [m.id for m in check_settings()]
    settings.DM_BRIDGE = reminder_settings(
        REMINDER_DIGEST_HOUR=24, REMINDER_DEFAULT_FREQUENCY="weekly"
    )
    ids = [m.id for m in check_settings()]
    assert "dm_bridge.E005" in ids and "dm_bridge.E008" in ids


def test_beat_scans_for_reminders_when_they_are_on(settings: Any) -> None:
    from celery import Celery
    from celery.beat import Scheduler

    from dm_bridge.tasks import schedule_reminder_scan

    class Beat:  # what celery.beat.Service hands to beat_init receivers
        def __init__(self, beat_schedule: dict[str, Any]) -> None:
            app = Celery(set_as_current=False)
            app.conf.beat_schedule = beat_schedule
            self.scheduler = Scheduler(app, lazy=False)

    settings.DM_BRIDGE = {"REMINDERS_ENABLED": True, "REMINDER_SCAN_INTERVAL": 7}
    beat = Beat({})
    schedule_reminder_scan(sender=beat)
    entry = beat.scheduler.schedule["dm-bridge-reminders"]
    assert entry.task == "dm_bridge.scan_reminders"
    assert entry.schedule.run_every.total_seconds() == 7

    settings.DM_BRIDGE = {"REMINDERS_ENABLED": False}
    off = Beat({})
    schedule_reminder_scan(sender=off)
    assert "dm-bridge-reminders" not in off.scheduler.schedule


def test_the_demo_console_backend_prints_the_reminder(
    dm: Dm, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    dm.say(content="seen in the terminal")
    scan()
    out = capsys.readouterr().out
    assert "You have 1 unread message in Steel touring bike." in out
    assert "  alice: seen in the terminal" in out
    assert f"{SITE_URL}/conversations/{dm.channel.pk}/" in out
    assert Reminder.objects.get().status == Reminder.Status.SENT


def test_members_who_must_wait_never_crowd_out_the_others(
    dm: Dm, smtp_server: Mailbox, make_user: Any
) -> None:
    dm.say(content="first")
    assert services.scan_reminders(limit=1)["batches"] == 1  # bob, reminded: now in his window
    dm.say(content="second")  # waits for bob's window
    carol = linked_user(make_user, "carol")
    active_channel("shop:3/buyer:3", [dm.alice, carol], whop_channel_id="feed_test_3")
    dm.say(content="hi carol", channel_id="feed_test_3")
    assert services.scan_reminders(limit=1)["batches"] == 1  # carol's, not bob's again
    assert [m["To"] for m in smtp_server.messages] == ["bob@example.com", "carol@example.com"]


def test_the_marketplace_settings_page_changes_the_preference(dm: Dm) -> None:
    url = reverse("notification-settings")
    anonymous = Client()
    assert anonymous.get(url).status_code == 302  # to the login page
    client = Client(enforce_csrf_checks=True)
    client.force_login(dm.bob)
    page = client.get(url)
    assert page.status_code == 200
    assert re.search(r'value="batch"[^>]*checked', page.content.decode())
    assert client.post(url, {"frequency": "off"}).status_code == 403  # no CSRF token
    token = client.cookies["csrftoken"].value
    saved = client.post(url, {"frequency": "daily", "csrfmiddlewaretoken": token})
    assert saved.status_code == 302 and services.reminder_frequency(dm.bob) == "daily"
    bad = client.post(url, {"frequency": "weekly", "csrfmiddlewaretoken": token})
    assert bad.status_code == 200 and services.reminder_frequency(dm.bob) == "daily"


def test_admin_retry_now_sends_a_failed_reminder(
    dm: Dm, smtp_server: Mailbox, admin_client: Client
) -> None:
    EmailAddress.objects.filter(user=dm.bob).update(verified=False)
    dm.say(content="retried from admin")
    scan()
    reminder = Reminder.objects.get(user=dm.bob)
    assert reminder.status == Reminder.Status.FAILED
    EmailAddress.objects.filter(user=dm.bob).update(verified=True)
    response = admin_client.post(
        reverse("admin:dm_bridge_reminder_changelist"),
        {"action": "retry_now", "_selected_action": [reminder.pk]},
        follow=True,
    )
    assert b"Retried 1 reminder" in response.content
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT
    assert "retried from admin" in smtp_server.text(smtp_server.to("bob@example.com")[0])
