"""The chat-token endpoint: one Whop call per user per token lifetime, honest failures, limits."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from dm_bridge import services
from dm_bridge.models import WhopUserLink

from .conftest import jwt_claims, logged_in

pytestmark = pytest.mark.django_db(transaction=True)


def token_url() -> str:
    return reverse("dm_bridge:chat-token")


def mint(client: Any) -> Any:
    return client.post(token_url())


def linked(make_user: Any, name: str) -> Any:
    user = make_user(name)
    services.ensure_whop_user(user)
    return user


def test_first_request_mints_and_later_ones_reuse_the_token(whop: Any, make_user: Any):
    user = linked(make_user, "alice")
    client = logged_in(user)
    first = mint(client)
    assert first.status_code == 200, first.content
    assert first["Cache-Control"] == "no-store"
    body = first.json()
    assert set(body) == {"token", "expires_at"}
    assert body["token"].count(".") == 2
    assert len(whop.requests("access_tokens.create")) == 1

    again = mint(client)
    assert again.status_code == 200
    assert again["Cache-Control"] == "no-store"
    assert again.json() == body
    # A second browser (another session of the same user) shares it too.
    assert mint(logged_in(user)).json() == body
    assert len(whop.requests("access_tokens.create")) == 1

    # Another user gets their own token (and their own Whop call).
    other = mint(logged_in(linked(make_user, "bob")))
    assert other.json()["token"] != body["token"]
    assert len(whop.requests("access_tokens.create")) == 2


def test_token_is_minted_again_once_inside_the_refresh_margin(
    whop: Any, make_user: Any, settings: Any
):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TOKEN_LIFETIME": 3, "TOKEN_REFRESH_MARGIN": 2}
    client = logged_in(linked(make_user, "alice"))
    first = mint(client).json()
    # 3 s token, 2 s margin: cached for ~1 s, then a new one.
    time.sleep(1.2)
    second = mint(client).json()
    assert second["token"] != first["token"]
    assert len(whop.requests("access_tokens.create")) == 2


@pytest.mark.parametrize("configured", [3600, 4 * 3600, 10**9])
def test_lifetime_is_at_most_an_hour(whop: Any, make_user: Any, settings: Any, configured: int):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TOKEN_LIFETIME": configured}
    before = timezone.now()
    body = mint(logged_in(linked(make_user, "alice"))).json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at <= before + timedelta(seconds=3600 + 5)
    assert expires_at >= before + timedelta(seconds=3600 - 5)
    claims = jwt_claims(body["token"])
    assert claims["exp"] - claims["iat"] <= 3600 + 1
    (asked,) = whop.requests("access_tokens.create")
    assert datetime.fromisoformat(asked["body"]["expires_at"]) <= before + timedelta(
        seconds=3600 + 5
    )


def test_short_configured_lifetime_is_honoured(whop: Any, make_user: Any, settings: Any):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TOKEN_LIFETIME": 6, "TOKEN_REFRESH_MARGIN": 1}
    before = timezone.now()
    body = mint(logged_in(linked(make_user, "alice"))).json()
    lifetime = (datetime.fromisoformat(body["expires_at"]) - before).total_seconds()
    assert 5 <= lifetime <= 7


def test_user_without_a_whop_link_is_provisioned_first(whop: Any, make_user: Any):
    user = make_user("newcomer")
    assert not WhopUserLink.objects.filter(user=user).exists()
    answer = mint(logged_in(user))
    assert answer.status_code == 200, answer.content
    link = WhopUserLink.objects.get(user=user)
    assert link.status == WhopUserLink.Status.ACTIVE
    assert jwt_claims(answer.json()["token"])["sub"] == link.whop_user_id
    assert [r["operation"] for r in whop.requests()] == [
        "accounts.create",
        "users.update",
        "access_tokens.create",
    ]
    created = whop.requests("accounts.create")[0]["body"]
    assert created["email"] == "newcomer@example.com"
    assert created["metadata"] == {"external_id": str(user.pk)}
    assert created["send_customer_emails"] is False
    assert "parent_company_id" not in created and "parent_account_id" not in created


def test_user_without_email_gets_a_clear_409(whop: Any, make_user: Any):
    user = make_user("noemail", email=None)
    answer = mint(logged_in(user))
    assert answer.status_code == 409
    assert answer["Cache-Control"] == "no-store"
    detail = answer.json()["detail"]
    assert detail.startswith("Your account cannot use chat yet:")
    assert "no email address" in detail
    assert whop.requests() == []
    # Still a clear answer the second time (the link is failed now).
    assert mint(logged_in(user)).json()["detail"] == detail


def test_whop_unavailable_is_a_503_with_retry_after(whop: Any, make_user: Any):
    client = logged_in(linked(make_user, "alice"))
    whop.add_fault("access_tokens.create", status=503, times=1)
    answer = mint(client)
    assert answer.status_code == 503
    assert answer["Cache-Control"] == "no-store"
    assert int(answer["Retry-After"]) >= 1
    assert answer.json()["detail"] == "Chat is temporarily unavailable; try again in a moment."
    # Nothing broken was cached: the next request mints.
    retried = mint(client)
    assert retried.status_code == 200
    assert len(whop.requests("access_tokens.create")) == 2


def test_whop_refusing_for_good_is_a_503_without_retry_after_logged_once(
    whop: Any, make_user: Any, caplog: Any
):
    client = logged_in(linked(make_user, "alice"))
    whop.add_fault("access_tokens.create", status=422, times=1)
    with caplog.at_level(logging.WARNING, logger="dm_bridge"):
        answer = mint(client)
    assert answer.status_code == 503
    assert "Retry-After" not in answer
    assert (
        answer.json()["detail"] == "Chat is unavailable right now; the site's team has been told."
    )
    refusals = [r for r in caplog.records if r.getMessage().startswith("Whop refused a request")]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]


def test_per_user_rate_limit(whop: Any, make_user: Any, settings: Any):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TOKEN_RATE_LIMIT": "3/min"}
    user = linked(make_user, "alice")
    alice = logged_in(user)
    assert [mint(alice).status_code for _ in range(3)] == [200, 200, 200]
    limited = mint(alice)
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["Cache-Control"] == "no-store"
    # Per user: bob is not affected, and alice's other session shares her limit.
    assert mint(logged_in(linked(make_user, "bob"))).status_code == 200
    assert mint(logged_in(user)).status_code == 429
    assert len(whop.requests("access_tokens.create")) == 2


def test_only_post(whop: Any, make_user: Any):
    client = logged_in(make_user("alice"))
    assert client.get(token_url()).status_code == 405
    assert whop.requests() == []


# --- identity safety: a Whop identity only for a verified email ---------------------------------
def test_an_unverified_email_gets_no_whop_identity(whop: Any, make_user: Any):
    """The takeover: someone signs up with the email of an existing Whop user. A connected
    account for that address *is* that Whop user, so its chat token would read their DMs."""
    whop.seed(users=[{"username": "victim", "email": "victim@example.com"}])
    attacker = make_user("attacker", email="victim@example.com", verified=False)
    answer = mint(logged_in(attacker))
    assert answer.status_code == 403
    assert answer.json()["detail"] == "Confirm your email address to use messages."
    assert answer["Cache-Control"] == "no-store"
    assert whop.requests() == []  # nothing was asked of Whop
    assert not WhopUserLink.objects.filter(user=attacker).exists()  # nothing written


def test_once_verified_the_same_user_gets_a_token(whop: Any, make_user: Any):
    from allauth.account.models import EmailAddress

    user = make_user("late", verified=False)
    assert mint(logged_in(user)).status_code == 403
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    answer = mint(logged_in(user))
    assert answer.status_code == 200, answer.content
    assert [r["operation"] for r in whop.requests()][0] == "accounts.create"


def test_a_verified_other_address_does_not_count(whop: Any, make_user: Any):
    from allauth.account.models import EmailAddress

    user = make_user("switcher", verified=False)
    EmailAddress.objects.create(user=user, email="old@example.com", verified=True)
    assert mint(logged_in(user)).status_code == 403  # user.email itself is unconfirmed


def test_without_allauth_the_default_adapter_trusts_no_email(make_user: Any, monkeypatch: Any):
    from django.apps import apps

    from dm_bridge.adapters import DefaultUserAdapter

    user = make_user("plain")
    assert DefaultUserAdapter().has_verified_email(user) is True
    real = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "allauth.account" and real(name))
    assert DefaultUserAdapter().has_verified_email(user) is False
