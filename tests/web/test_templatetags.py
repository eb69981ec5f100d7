"""``{% load dm_bridge %}``: what the tags put on the page, for members, outsiders and attackers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory
from django.urls import reverse

from dm_bridge.models import DmChannel, DmMember
from dm_bridge.templatetags.dm_bridge import FAILED_TEXT

pytestmark = pytest.mark.django_db

HOSTILE = "</script><script>alert(1)</script>"
API_KEY = "apik_tags_test_secret_value"
WEBHOOK_SECRET = "ws_tags_test_secret_value"
ELEMENTS_URL = "https://elements.example.test/release/elements.js"
CONFIG = re.compile(r'<script id="([^"]+)" type="application/json">(.*?)</script>', re.S)


@pytest.fixture(autouse=True)
def dm_settings(settings: Any) -> None:
    settings.DM_BRIDGE = {
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "COMPANY_ID": "biz_tags",
        "ELEMENTS_URL": ELEMENTS_URL,
        "TASKS_ENABLED": False,
    }


def render(source: str, user: Any, query: str = "", **context: Any) -> str:
    request = RequestFactory().get("/page/" + query)
    request.user = user
    return Template("{% load dm_bridge %}" + source).render(
        Context({"request": request, **context})
    )


def configs(html: str) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in CONFIG.findall(html)]


def channel_with(
    users: list[Any], status: str = "active", whop_id: str = "feed_tags1", **fields: Any
) -> DmChannel:
    channel = DmChannel.objects.create(
        company_id="biz_tags",
        key=f"k-{status}-{len(users)}-{whop_id}",
        status=status,
        whop_channel_id=whop_id if status == "active" else "",
        **fields,
    )
    member_status = "active" if status == "active" else "pending"
    for user in users:
        DmMember.objects.create(channel=channel, user=user, status=member_status)
    return channel


@pytest.fixture
def alice(make_user: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob")


def assert_no_secrets(html: str) -> None:
    assert API_KEY not in html
    assert WEBHOOK_SECRET not in html


def test_pending_channel_says_connecting(alice: Any, bob: Any):
    channel = channel_with([alice, bob], status="pending")
    html = render("{% dm_chat channel %}", alice, channel=channel)
    assert 'data-testid="dm-chat-status"' in html
    status = re.search(r'data-testid="dm-chat-status"( hidden)?>([^<]*)<', html)
    assert status and status.group(1) is None and status.group(2) == "Connecting…"
    (config,) = configs(html)
    assert config["channel"] == {
        "id": channel.pk,
        "status": "pending",
        "ready": False,
        "whopChannelId": None,
    }
    assert config["statusUrl"] == reverse("dm_bridge:channel-detail", args=[channel.pk])
    assert_no_secrets(html)


def test_active_channel_config(alice: Any, bob: Any):
    channel = channel_with([alice, bob])
    html = render("{% dm_chat channel %}", alice, channel=channel)
    (config,) = configs(html)
    assert config["mode"] == "chat"
    assert config["channel"]["whopChannelId"] == "feed_tags1"
    assert config["channel"]["ready"] is True
    assert config["tokenUrl"] == reverse("dm_bridge:chat-token")
    assert config["readUrl"] == reverse("dm_bridge:mark-read")
    assert config["unreadUrl"] == reverse("dm_bridge:unread")
    assert config["csrfToken"]
    assert config["style"] == "imessage" and config["environment"] == "production"
    # The container names its config; the status line is there but hidden.
    config_id = CONFIG.search(html).group(1)
    assert f'data-dm-bridge="{config_id}"' in html
    assert re.search(r'data-testid="dm-chat-status" hidden>\s*<', html)
    # The element script and the glue.
    assert f'<script src="{ELEMENTS_URL}" defer></script>' in html
    assert '<script src="/static/dm_bridge/dm_bridge.js" defer></script>' in html
    assert_no_secrets(html)


def test_two_chats_on_one_page_get_distinct_ids(alice: Any, bob: Any, make_user: Any):
    one = channel_with([alice, bob])
    two = channel_with([alice, make_user("carol")], whop_id="feed_tags2")
    html = render("{% dm_chat one %}{% dm_chat two %}", alice, one=one, two=two)
    ids = [config_id for config_id, _ in CONFIG.findall(html)]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert [c["channel"]["whopChannelId"] for c in configs(html)] == ["feed_tags1", "feed_tags2"]


def test_failed_channel_shows_the_failure_text(alice: Any, bob: Any):
    channel = channel_with([alice, bob], status="failed", last_error="422 from Whop: secret detail")
    html = render("{% dm_chat channel %}", alice, channel=channel)
    assert FAILED_TEXT in html
    assert "Connecting" not in html
    # The element's id is random hex and may hold "422"; look for the reason's words instead.
    assert "secret detail" not in html and "422 from Whop" not in html
    assert configs(html)[0]["channel"]["status"] == "failed"


@pytest.mark.parametrize("who", ["outsider", "anonymous", "no channel", "deleted"])
def test_not_available_reveals_nothing(alice: Any, bob: Any, make_user: Any, who: str):
    channel = channel_with([alice, bob])
    viewer: Any = make_user("carol")
    if who == "anonymous":
        viewer = AnonymousUser()
    elif who == "no channel":
        channel = None  # type: ignore[assignment]
    elif who == "deleted":
        DmChannel.objects.filter(pk=channel.pk).update(status="deleted")
        channel.refresh_from_db()
        viewer = alice
    html = render("{% dm_chat channel %}", viewer, channel=channel)
    assert "This conversation is not available." in html
    assert "application/json" not in html
    assert "feed_tags1" not in html
    assert "/dm/api/" not in html
    assert "data-dm-bridge=" not in html
    assert ELEMENTS_URL not in html
    assert_no_secrets(html)


def test_inbox_config(alice: Any):
    html = render("{% dm_inbox %}", alice)
    (config,) = configs(html)
    assert config["mode"] == "inbox"
    assert config["companyId"] == "biz_tags"
    assert config["selectedChannel"] is None
    assert config["deepLinkParam"] == "channel"
    assert config["tokenUrl"] == reverse("dm_bridge:chat-token")
    assert f'<script src="{ELEMENTS_URL}" defer></script>' in html
    assert "/static/dm_bridge/dm_bridge.js" in html
    assert 'data-testid="dm-inbox"' in html
    # A place for the glue to say that chat could not load (hidden until then).
    assert re.search(r'<p class="dm-bridge-status" role="status"[^>]* hidden></p>', html)
    assert_no_secrets(html)


def test_inbox_deep_link_and_selected_channel(alice: Any, bob: Any, make_user: Any):
    assert (
        configs(render("{% dm_inbox %}", alice, "?channel=feed_abc-1_2"))[0]["selectedChannel"]
        == "feed_abc-1_2"
    )
    mine = channel_with([alice, bob])
    assert configs(render("{% dm_inbox mine %}", alice, mine=mine))[0]["selectedChannel"] == (
        "feed_tags1"
    )
    # A channel object the viewer may not see is not selected (nor named).
    theirs = channel_with([bob, make_user("carol")], whop_id="feed_theirs")
    html = render("{% dm_inbox theirs %}", alice, theirs=theirs)
    assert configs(html)[0]["selectedChannel"] is None
    assert "feed_theirs" not in html


@pytest.mark.parametrize(
    "value",
    [HOSTILE, "feed_x</script>", "feed_" + "x" * 61, "javascript:alert(1)", "feed_a b", "feed_a\n"],
)
def test_inbox_deep_link_that_is_not_a_channel_id_is_dropped(alice: Any, value: str):
    from urllib.parse import quote

    html = render("{% dm_inbox %}", alice, "?channel=" + quote(value))
    assert configs(html)[0]["selectedChannel"] is None
    assert "alert(1)" not in html
    assert "<script>alert" not in html


def test_hostile_names_never_reach_the_page_unescaped(alice: Any, bob: Any):
    for user in (alice, bob):
        user.first_name, user.last_name = HOSTILE, HOSTILE
        user.save()
    channel = channel_with([alice, bob], custom_name=HOSTILE, whop_name=HOSTILE)
    DmMember.objects.filter(user=alice).update(unread_count=2)
    html = render(
        "{% dm_unread_badge %}{% dm_chat channel %}{% dm_inbox channel %}", alice, channel=channel
    )
    assert "<script>alert(1)" not in html
    assert "alert(1)" not in html  # names are not part of what the tags render at all


def test_json_script_escapes_markup_in_the_config(alice: Any, bob: Any):
    """Anything that does reach the config (here a style chosen by the page) is inert."""
    channel = channel_with([alice, bob])
    html = render(
        "{% dm_chat channel style %}{% dm_inbox '' style %}", alice, channel=channel, style=HOSTILE
    )
    assert "<script>alert(1)" not in html
    assert "\\u003C/script\\u003E\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E" in html
    assert [c["style"] for c in configs(html)] == [HOSTILE, HOSTILE]


def test_unread_badge(alice: Any, bob: Any, make_user: Any):
    channel = channel_with([alice, bob])
    empty = render("{% dm_unread_badge %}", alice)
    assert 'data-testid="dm-unread"' in empty
    assert re.search(r'data-testid="dm-unread"[^>]* hidden>0<', empty)
    assert f'data-dm-bridge-unread="{reverse("dm_bridge:unread")}"' in empty
    assert "<script" not in empty  # it sits in the host's <a>: the glue comes from elsewhere
    assert render("{% dm_bridge_scripts %}", alice) == (
        '<link rel="stylesheet" href="/static/dm_bridge/dm_bridge.css">\n'
        '<script src="/static/dm_bridge/dm_bridge.js" defer></script>\n'
    )

    DmMember.objects.filter(channel=channel, user=alice).update(unread_count=3)
    three = render("{% dm_unread_badge %}", alice)
    assert re.search(r'aria-label="3 unread messages">3</span>', three)
    one = channel_with([alice, make_user("carol")], whop_id="feed_other")
    DmMember.objects.filter(channel=channel, user=alice).update(unread_count=0)
    DmMember.objects.filter(channel=one, user=alice).update(unread_count=1)
    assert 'aria-label="1 unread message">1</span>' in render("{% dm_unread_badge %}", alice)
    assert render("{% dm_unread_count as n %}[{{ n }}]", alice) == "[1]"

    DmMember.objects.filter(channel=one, user=alice).update(unread_count=100)
    many = render("{% dm_unread_badge %}", alice)
    assert 'data-dm-bridge-cap="99" aria-label="More than 99 unread messages">99+</span>' in many
    exact = render("{% dm_unread_badge cap=0 %}", alice)
    assert 'aria-label="100 unread messages">100</span>' in exact
    assert "data-dm-bridge-cap" not in exact
    assert render("{% dm_unread_badge cap=-1 %}", alice) == exact

    anonymous = render("{% dm_unread_badge %}", AnonymousUser())
    assert "data-dm-bridge-unread" not in anonymous
    assert "<script" not in anonymous
    assert render("{% dm_unread_count %}", AnonymousUser()) == "0"


def test_no_secret_in_any_tag_output(alice: Any, bob: Any):
    channel = channel_with([alice, bob])
    pending = channel_with([alice, bob], status="pending", whop_id="feed_p")
    html = render(
        "{% dm_unread_badge %}{% dm_chat channel %}{% dm_chat pending %}{% dm_inbox %}"
        "{% dm_unread_count %}",
        alice,
        channel=channel,
        pending=pending,
    )
    assert_no_secrets(html)
    assert "apik_" not in html and "ws_" not in html


@pytest.mark.parametrize(
    "source",
    ["{% dm_chat None %}", "{% dm_inbox %}", "{% dm_unread_badge %}", "{% dm_unread_count %}"],
)
def test_tags_without_the_request_name_the_context_processor(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=r"context_processors\.request"):
        Template("{% load dm_bridge %}" + source).render(Context({}))


def test_chat_and_inbox_link_the_default_stylesheet(alice: Any, bob: Any):
    html = render("{% dm_chat channel %}{% dm_inbox %}", alice, channel=channel_with([alice, bob]))
    assert '<link rel="stylesheet" href="/static/dm_bridge/dm_bridge.css">' in html


def test_a_stuck_connecting_hint_only_in_debug_with_tasks(settings: Any, alice: Any, bob: Any):
    pending = channel_with([alice, bob], status="pending", whop_id="feed_s")
    assert configs(render("{% dm_chat c %}", alice, c=pending))[0]["stuckHint"] is None
    settings.DEBUG = True
    assert configs(render("{% dm_chat c %}", alice, c=pending))[0]["stuckHint"] is None
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TASKS_ENABLED": True}
    (config,) = configs(render("{% dm_chat c %}", alice, c=pending))
    assert "Is a Celery worker running?" in config["stuckHint"]
    assert config["stuckAfterMs"] == 15_000
