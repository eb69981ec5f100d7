"""Contact-info detection: the evasion table (input → kinds), the look-alikes that must pass,
and the webhook reaction in each mode (off / flag / warn) against the emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from dm_bridge.conf import dm_bridge_settings
from dm_bridge.models import DmOutboxMessage, Report
from dm_bridge.services.contact_detection import detect, normalize
from dm_bridge.testing import DEFAULT_API_KEY

from .webhook_posts import SECRET, deliver_message

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "data"))
from evasions import CLEAN, EVASIONS, KNOWN_MISSES  # noqa: E402

ALLOWED = ["whop.com", "shop.example"]


@pytest.mark.parametrize(("text", "kinds"), EVASIONS, ids=[t for t, _ in EVASIONS])
def test_evasions_are_detected_with_their_kinds(text: str, kinds: set[str]) -> None:
    assert set(detect(text, ALLOWED).kinds) == kinds


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_look_alikes_and_allowed_links_are_not_flagged(text: str) -> None:
    assert detect(text, ALLOWED).kinds == ()


@pytest.mark.parametrize(("text", "kinds"), KNOWN_MISSES)
def test_known_misses_stay_documented(text: str, kinds: set[str]) -> None:
    # If one starts being detected, move it into EVASIONS (the bench's rate changes too).
    assert not set(detect(text, ALLOWED).kinds) & kinds


def test_the_allowlist_covers_subdomains_only_of_the_named_domain() -> None:
    assert detect("https://help.whop.com/x", ALLOWED).kinds == ()
    assert detect("https://whop.com.evil.io/x", ALLOWED).kinds == ("link",)
    assert detect("https://notwhop.com", ALLOWED).kinds == ("link",)
    assert detect("https://whop.com", []).kinds == ("link",)


def test_normalize_undoes_unicode_and_spelled_digits_deterministically() -> None:
    assert normalize("Call ４１５ five five five ١٢٣٤") == "call 415 555 1234"
    assert detect("four one five five five five one two three four") == detect(
        "four one five five five five one two three four"
    )


@pytest.fixture
def detecting(whop, settings):
    def configure(mode: str) -> None:
        settings.DM_BRIDGE = {
            **settings.DM_BRIDGE,
            "WEBHOOK_SECRET": SECRET,
            "CONTACT_DETECTION": mode,
            "CONTACT_DETECTION_ALLOWED_DOMAINS": ["whop.com"],
        }

    return configure


def whop_messages(emulator, channel) -> list[str]:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    with httpx.Client(base_url=emulator.api_url, headers=headers, timeout=5) as http:
        page = http.get("/messages", params={"channel_id": channel.whop_channel_id, "first": 50})
    return [m["content"] for m in page.raise_for_status().json()["data"]]


@pytest.mark.django_db(transaction=True)
def test_flag_files_one_detector_report_per_message_and_posts_nothing(
    detecting, open_conversation, buyer, client
) -> None:
    detecting("flag")
    channel = open_conversation(buyer).channel
    clean = deliver_message(client, channel, buyer, "Is the red bike still available for $120?")
    flagged = deliver_message(client, channel, buyer, "mail me: erin dot b at gmail dot com")
    reports = list(Report.objects.filter(channel=channel))
    assert [(r.whop_message_id, r.category, r.source, r.reporter) for r in reports] == [
        (flagged, "off_platform", "detector", None)
    ]
    assert "an email address" in reports[0].note
    assert "gmail" not in reports[0].note  # the note names the kind, not the address
    assert clean != flagged
    assert not DmOutboxMessage.objects.filter(dedupe_key__startswith="contact-warning:").exists()


@pytest.mark.django_db(transaction=True)
def test_warn_posts_the_reminder_in_the_dm_once_per_message(
    detecting, open_conversation, buyer, shop, client, emulator
) -> None:
    detecting("warn")
    channel = open_conversation(buyer).channel
    text = "Text me on 415 555 1234, cheaper off the site"
    first = deliver_message(client, channel, shop.owner, text)
    deliver_message(client, channel, shop.owner, text)  # another message: its own reminder
    assert Report.objects.filter(channel=channel, source="detector").count() == 2
    reminder = dm_bridge_settings.CONTACT_WARNING_MESSAGE
    assert whop_messages(emulator, channel).count(reminder) == 2
    # The app's own reminder (author: the app) comes back as a webhook: not checked again.
    deliver_message(client, channel, None, "call 415 555 1234")
    assert Report.objects.filter(channel=channel, source="detector").count() == 2
    outbox = DmOutboxMessage.objects.filter(channel=channel, dedupe_key=f"contact-warning:{first}")
    assert outbox.count() == 1


@pytest.mark.django_db(transaction=True)
def test_off_does_nothing(detecting, open_conversation, buyer, client) -> None:
    detecting("off")
    channel = open_conversation(buyer).channel
    deliver_message(client, channel, buyer, "erin@example.com")
    assert not Report.objects.filter(channel=channel).exists()


@pytest.mark.parametrize(
    ("changes", "check_id"),
    [
        ({"CONTACT_DETECTION": "block"}, "dm_bridge.E008"),
        ({"CONTACT_DETECTION_ALLOWED_DOMAINS": "whop.com"}, "dm_bridge.E009"),
        ({"CONTACT_DETECTION_ALLOWED_DOMAINS": ["https://whop.com/"]}, "dm_bridge.E009"),
        ({"CONTACT_DETECTION": "warn", "CONTACT_WARNING_MESSAGE": " "}, "dm_bridge.E009"),
        ({"RESPONSE_TIME_ADAPTER": "nope.Adapter"}, "dm_bridge.E003"),
        ({"RESPONSE_TIME_WINDOW_DAYS": 0}, "dm_bridge.E005"),
        ({"RESPONSE_TIME_MIN_ANSWERED": 0}, "dm_bridge.E005"),
        ({"RESPONSE_TIME_REFRESH": -1}, "dm_bridge.E005"),
    ],
)
def test_bad_detection_and_response_time_settings_fail_the_checks(settings, changes, check_id):
    from dm_bridge.checks import check_settings

    settings.DM_BRIDGE = {**settings.DM_BRIDGE, **changes}
    assert check_id in {m.id for m in check_settings()}
    settings.DM_BRIDGE = {k: v for k, v in settings.DM_BRIDGE.items() if k not in changes}
    assert check_id not in {m.id for m in check_settings()}
