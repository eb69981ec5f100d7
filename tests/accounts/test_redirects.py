"""Issue 10: `?next=` after sign-up, login and logout redirects only within the site, and a
malformed one never turns into a 500 (allauth checks it with its adapter's is_safe_url)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

HOSTILE_NEXT = [
    "https://evil.example/x",
    "//evil.example/x",
    "https:evil.example",
    "http:/evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "foo",
]


def assert_same_site(response: HttpResponse) -> None:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.scheme == "" and location.netloc == "", response["Location"]
    assert response["Location"].startswith("/") and "\\" not in response["Location"]
    assert "evil.example" not in response["Location"]


@pytest.mark.parametrize("next_url", HOSTILE_NEXT)
def test_signup(next_url, client):
    data = {
        "username": "newbuyer",
        "email": "new@example.com",
        "password1": "a-Long-pass-42",
        "password2": "a-Long-pass-42",
    }
    response = client.post(reverse("account_signup") + "?" + f"next={next_url}", data)
    assert_same_site(response)


@pytest.mark.parametrize("next_url", HOSTILE_NEXT)
def test_login(next_url, make_user):
    make_user("buyer")
    response = Client().post(
        reverse("account_login"), {"login": "buyer", "password": "pw-123456", "next": next_url}
    )
    assert response["Location"] == "/"  # the default, as if no next had been given
    assert_same_site(response)


@pytest.mark.parametrize("next_url", HOSTILE_NEXT)
def test_logout(next_url, make_user):
    client = Client()
    client.force_login(make_user("buyer"))
    response = client.post(reverse("account_logout") + "?" + f"next={next_url}")
    assert response["Location"] == "/"
    assert_same_site(response)


def test_a_same_site_next_is_followed(make_user):
    make_user("buyer")
    client = Client()
    login = client.post(
        reverse("account_login") + "?next=/messages/", {"login": "buyer", "password": "pw-123456"}
    )
    assert login["Location"] == "/messages/"
    assert client.post(reverse("account_logout"), {"next": "/shops/mine/"})["Location"] == (
        "/shops/mine/"
    )
