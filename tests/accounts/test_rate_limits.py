"""Issue 10: 50 sign-ups in 7 s and 40 wrong passwords without a lockout. allauth's rate limits
(ACCOUNT_RATE_LIMITS) now stop both."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
SOMEONE_ELSE = "198.51.100.9"


def sign_up(n: int, ip: str) -> HttpResponse:
    data = {
        "username": f"bot{n}",
        "email": f"bot{n}@example.com",
        "password1": "a-Long-pass-42",
        "password2": "a-Long-pass-42",
    }
    return Client(REMOTE_ADDR=ip).post(reverse("account_signup"), data)


def log_in(password: str, ip: str = ATTACKER, login: str = "buyer") -> tuple[HttpResponse, bool]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("account_login"), {"login": login, "password": password})
    return response, client.get("/").wsgi_request.user.is_authenticated


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Moves allauth's rate-limit clock forward (its counters hold timestamps)."""
    from allauth.core.internal import ratelimit

    offset = [0.0]

    class Clock:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def time() -> float:
            return time.time() + offset[0]

    monkeypatch.setattr(ratelimit, "time", Clock())
    return lambda seconds: offset.__setitem__(0, offset[0] + seconds)


def test_the_sixth_signup_from_one_address_within_ten_minutes_is_refused(clock):
    assert [sign_up(n, ATTACKER).status_code for n in range(5)] == [302] * 5
    refused = sign_up(5, ATTACKER)
    assert refused.status_code == 429 and "Too many attempts" in refused.content.decode()
    assert not get_user_model().objects.filter(username="bot5").exists()
    assert sign_up(6, SOMEONE_ELSE).status_code == 302  # per address
    clock(10 * 60 + 1)
    assert sign_up(7, ATTACKER).status_code == 302


def test_wrong_passwords_lock_the_login_until_the_window_passes(make_user, clock):
    make_user("buyer")
    for _ in range(5):
        response, authenticated = log_in("wrong-guess")
        assert response.status_code == 200 and not authenticated
    # Locked: the right password is refused too, from the attacker's address and any other.
    for ip in (ATTACKER, SOMEONE_ELSE):
        response, authenticated = log_in("pw-123456", ip)
        assert "Too many failed login attempts" in response.content.decode() and not authenticated
    clock(5 * 60 + 1)
    response, authenticated = log_in("pw-123456", SOMEONE_ELSE)
    assert response.status_code == 302 and authenticated


def test_one_address_gets_ten_wrong_passwords_a_minute_over_all_logins(make_user):
    for n in range(4):
        make_user(f"user{n}")
    for n in range(10):
        response, _ = log_in("wrong-guess", login=f"user{n % 4}")
        assert "Too many failed" not in response.content.decode()
    response, authenticated = log_in("pw-123456", login="user3")  # user3 had only 2 failures
    assert "Too many failed login attempts" in response.content.decode() and not authenticated
    assert log_in("pw-123456", SOMEONE_ELSE, login="user3")[1]
