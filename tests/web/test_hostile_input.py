"""Hostile or broken input at the REST API's edge: always a JSON 4xx/503, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from dm_bridge.testing import free_port

from .conftest import logged_in

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000


def csrf_client(user: Any) -> tuple[Client, dict[str, str]]:
    """A client that enforces CSRF like a browser's, and the header that passes the check."""
    client = logged_in(user, enforce_csrf_checks=True)
    secret = "s" * 32  # any well-formed secret: the cookie and the header just have to agree
    client.cookies["csrftoken"] = secret
    return client, {"X-CSRFToken": secret}


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("chat-token", {}),
        ("mark-read", {}),
        ("channel-list", {}),
        ("member-list", {"pk": 1}),
    ],
)
def test_deeply_nested_json_is_a_400_on_every_post(make_user: Any, name: str, kwargs: dict) -> None:
    client, headers = csrf_client(make_user())
    response = client.post(
        reverse(f"dm_bridge:{name}", kwargs=kwargs),
        data=DEEP,
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 400, response.content
    assert "nested too deeply" in response.json()["detail"]


def test_nul_characters_are_refused_in_plain_words(make_user: Any) -> None:
    client = logged_in(make_user())
    for body in (r'{"channel_id": "feed_\u0000x"}', '{"channel_id": "feed_\x00x"}'):
        response = client.post(
            reverse("dm_bridge:mark-read"), data=body, content_type="application/json"
        )
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/json")


def test_the_token_endpoint_is_a_503_with_retry_after_when_the_cache_is_down(
    make_user: Any, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        }
    }
    response = logged_in(make_user()).post(reverse("dm_bridge:chat-token"))
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) >= 1
    assert response.json()["detail"] == "Chat is temporarily unavailable; try again in a moment."
    assert response["Cache-Control"] == "no-store"
