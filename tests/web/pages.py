"""A test-only URLconf: two pages embedding dm_bridge's tags, plus dm_bridge's own URLs.

``settings.ROOT_URLCONF = "tests.web.pages"`` (and ``TEMPLATE_DIR`` in ``TEMPLATES[0]["DIRS"]``)
in a test serves:

* ``/chat/<pk>/`` — ``{% dm_unread_badge %}`` + ``{% dm_chat channel %}`` for that channel;
* ``/inbox/`` — ``{% dm_unread_badge %}`` + ``{% dm_inbox %}`` (``?channel=`` deep links);
* ``/dm/…`` — ``dm_bridge.urls`` (API, token, webhook receiver).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path

from dm_bridge.models import DmChannel

TEMPLATE_DIR = Path(__file__).with_name("templates")
URLCONF = "tests.web.pages"


def use_pages(settings: Any) -> str:
    """Serve these pages: for pytest-django's ``settings`` fixture (also the live server's)."""
    settings.ROOT_URLCONF = URLCONF
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], TEMPLATE_DIR]
    settings.TEMPLATES = templates
    return URLCONF


def chat_page(request: HttpRequest, pk: int) -> HttpResponse:
    channel = DmChannel.objects.filter(pk=pk).first()
    return render(request, "dm_test/chat.html", {"channel": channel})


def inbox_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dm_test/inbox.html")


urlpatterns = [
    path("chat/<int:pk>/", chat_page, name="test-chat"),
    path("inbox/", inbox_page, name="test-inbox"),
    path("dm/", include("dm_bridge.urls")),
]
