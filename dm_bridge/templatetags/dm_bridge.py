"""``{% load dm_bridge %}``: embed Whop's Chat and DMs list elements with the vanilla-JS snippet.

* ``{% dm_chat channel %}`` — one conversation: "Connecting…" until the channel is active on
  Whop, then the Chat element; a clear message if it failed or the viewer may not see it.
* ``{% dm_inbox %}`` — the DMs list element wired to a Chat element: selecting a DM switches
  the chat, the selection is kept in the URL (``?channel=feed_…``) so it can be deep-linked.
* ``{% dm_unread_badge %}`` / ``{% dm_unread_count as n %}`` — the viewer's unread count (kept
  fresh by the glue script: included by the two tags above, elsewhere by ``{% dm_bridge_scripts %}``).
* ``{% dm_bridge_scripts %}`` — the glue script (and the default stylesheet), once per page.

Everything the browser needs goes through ``json_script``; the API key never does — the page
only gets a URL from which the signed-in user can fetch their own short-lived token.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.urls import reverse

from .. import unread
from ..conf import dm_bridge_settings
from ..models import DmChannel
from ..policy import get_policy

register = template.Library()

WHOP_CHANNEL_ID = re.compile(r"feed_[A-Za-z0-9_-]{1,60}")  # use fullmatch: "$" would allow "\n"
FAILED_TEXT = (
    "This conversation could not be set up. The site's team has been told; try again later."
)
# Shown in DEBUG only, after STUCK_AFTER_MS of "Connecting…": the usual cause in development.
STUCK_HINT = (
    "Still connecting… (DEBUG) Is a Celery worker running? With DM_BRIDGE['TASKS_ENABLED'] on, "
    "channels are created by a worker; or set it to False to do the work in the request."
)
STUCK_AFTER_MS = 15_000


@register.inclusion_tag("dm_bridge/chat.html", takes_context=True)
def dm_chat(
    context: template.Context, channel: DmChannel | None, style: str = ""
) -> dict[str, Any]:
    """The Chat element for ``channel`` if the viewer may see it."""
    request = _request(context, "dm_chat")
    element_id = _element_id("dm-chat")
    visible = channel is not None and get_policy().can_view(request.user, channel)
    data: dict[str, Any] = {
        "element_id": element_id,
        "config_id": f"{element_id}-config",
        "visible": visible,
    }
    if not visible:
        return data
    assert channel is not None
    config = _session_config(request, style)
    config.update(
        mode="chat",
        channel={
            "id": channel.pk,
            "status": channel.status,
            "ready": channel.is_ready,
            "whopChannelId": channel.whop_channel_id or None,
        },
        statusUrl=reverse("dm_bridge:channel-detail", args=[channel.pk]),
        failedText=FAILED_TEXT,
        stuckHint=STUCK_HINT if settings.DEBUG and dm_bridge_settings.TASKS_ENABLED else None,
        stuckAfterMs=STUCK_AFTER_MS,
    )
    data.update(
        config=config,
        status_text=""
        if channel.is_ready
        else (FAILED_TEXT if channel.status == DmChannel.Status.FAILED else "Connecting…"),
        elements_url=dm_bridge_settings.ELEMENTS_URL,
    )
    return data


@register.inclusion_tag("dm_bridge/inbox.html", takes_context=True)
def dm_inbox(
    context: template.Context, selected: DmChannel | str | None = None, style: str = ""
) -> dict[str, Any]:
    """The DMs list element wired to a Chat element. ``selected``: a channel or ``feed_…`` ID;
    default: the ``?channel=`` query parameter (a deep link)."""
    request = _request(context, "dm_inbox")
    param = "channel"
    if isinstance(selected, DmChannel):
        selected = selected.whop_channel_id if get_policy().can_view(request.user, selected) else ""
    selected = selected or request.GET.get(param, "")
    config = _session_config(request, style)
    config.update(
        mode="inbox",
        companyId=dm_bridge_settings.COMPANY_ID,
        # Anything not shaped like a Whop channel ID is dropped; membership is Whop's to enforce.
        selectedChannel=selected if WHOP_CHANNEL_ID.fullmatch(selected or "") else None,
        deepLinkParam=param,
    )
    element_id = _element_id("dm-inbox")
    return {
        "element_id": element_id,
        "config_id": f"{element_id}-config",
        "config": config,
        "elements_url": dm_bridge_settings.ELEMENTS_URL,
    }


@register.simple_tag(takes_context=True)
def dm_unread_count(context: template.Context) -> int:
    return unread.unread_count(_request(context, "dm_unread_count").user)


BADGE_CAP = 99  # a badge shows "99+" above this, as messaging apps do


@register.inclusion_tag("dm_bridge/unread_badge.html", takes_context=True)
def dm_unread_badge(context: template.Context, cap: int = BADGE_CAP) -> dict[str, Any]:
    """A count that the glue script keeps fresh (hidden at 0), "99+" above ``cap`` (``cap=0``:
    always the exact number). Only the ``<span>``: it usually sits inside the host's ``<a>``,
    so the script comes from ``{% dm_bridge_scripts %}``. Capped, a page reads at most
    ``cap + 1`` unread conversations, not all of a busy seller's."""
    user = _request(context, "dm_unread_badge").user
    cap = max(0, int(cap))  # 0 or less: exact
    count = unread.unread_count(user, cap=cap or None)
    capped = bool(cap) and count > cap
    return {
        "count": count,
        "shown": f"{cap}+" if capped else str(count),
        "capped": capped,
        "cap": cap,
        "url": reverse("dm_bridge:unread") if user.is_authenticated else "",
    }


@register.inclusion_tag("dm_bridge/glue.html")
def dm_bridge_scripts() -> dict[str, Any]:
    """The glue script and default stylesheet, for pages with a badge but no chat or inbox."""
    return {}


def _request(context: template.Context, tag: str) -> Any:
    request = context.get("request")
    if request is None:
        raise template.TemplateSyntaxError(
            f"{{% {tag} %}} needs the request in the template context: add "
            "'django.template.context_processors.request' to TEMPLATES[0]['OPTIONS']"
            "['context_processors'], and render with render(request, …) or a RequestContext."
        )
    return request


def _session_config(request: Any, style: str) -> dict[str, Any]:
    return {
        "environment": dm_bridge_settings.ENVIRONMENT,
        "style": style or dm_bridge_settings.CHAT_STYLE,
        "tokenUrl": reverse("dm_bridge:chat-token"),
        "readUrl": reverse("dm_bridge:mark-read"),
        "unreadUrl": reverse("dm_bridge:unread"),
        "csrfToken": get_token(request),
    }


def _element_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
