"""Sign-up with a confirmed email, login by username or email, logout, password reset — all
through django-allauth, with mail delivered over SMTP to a real local server."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from dm_bridge.adapters import DefaultUserAdapter

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-pass-42"
CONFIRM_PATH = r"/accounts/confirm-email/[^/\s]+/"
RESET_PATH = r"/accounts/password/reset/key/[^/\s]+/"


def sign_up(
    client: Client, username: str = "newbuyer", email: str = "New@Example.com"
) -> HttpResponse:
    data = {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("account_signup"), data)


def log_in(client: Client, login: str, password: str = PASSWORD) -> HttpResponse:
    return client.post(reverse("account_login"), {"login": login, "password": password})


def signed_in_as(client: Client) -> str | None:
    user = client.get("/").wsgi_request.user
    return user.get_username() if user.is_authenticated else None


def test_signup_sends_a_confirmation_and_nobody_logs_in_before_it(client, smtp_server):
    response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = get_user_model().objects.get(username="newbuyer")
    assert signed_in_as(client) is None
    assert not DefaultUserAdapter().has_verified_email(user)

    (mail,) = smtp_server.to("New@Example.com")
    assert mail["Subject"].startswith("[Marketplace] ")
    # Logging in before confirming sends the user back to "check your email", not in.
    refused = log_in(Client(), "newbuyer")
    assert refused["Location"] == reverse("account_email_verification_sent")
    assert signed_in_as(client) is None


def test_the_emailed_link_confirms_the_address_then_login_works(client, smtp_server):
    sign_up(client)
    link = smtp_server.link(smtp_server.to("New@Example.com")[0], CONFIRM_PATH)

    elsewhere = Client()  # the link is opened from the mail client, not the sign-up tab
    page = elsewhere.get(link)
    assert page.status_code == 200 and "Confirm" in page.content.decode()
    assert elsewhere.post(link).status_code == 302

    user = get_user_model().objects.get(username="newbuyer")
    assert EmailAddress.objects.get(user=user).verified
    assert DefaultUserAdapter().has_verified_email(user)
    by_username, by_email = Client(), Client()
    assert log_in(by_username, "newbuyer")["Location"] == "/"
    assert signed_in_as(by_username) == "newbuyer"
    assert log_in(by_email, "new@example.com")["Location"] == "/"
    assert signed_in_as(by_email) == "newbuyer"


def test_an_unverified_user_is_not_let_in(make_user, smtp_server):
    make_user("pending", verified=False)
    client = Client()
    response = log_in(client, "pending", "pw-123456")
    assert response["Location"] == reverse("account_email_verification_sent")
    assert signed_in_as(client) is None
    assert len(smtp_server.to("pending@example.com")) == 1  # a fresh confirmation link
    log_in(Client(), "pending", "pw-123456")
    assert len(smtp_server.to("pending@example.com")) == 1  # not another within 3 minutes


def test_an_address_already_in_use_gets_no_second_account(client, make_user, smtp_server):
    make_user("owner", email="taken@example.com")
    response = sign_up(client, "intruder", "Taken@example.com")
    # The same answer as a new sign-up (no account enumeration); the owner is told by mail.
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not get_user_model().objects.filter(username="intruder").exists()
    (mail,) = smtp_server.to("Taken@example.com")
    assert "already" in mail.get_body(preferencelist=("plain",)).get_content()


def test_logout_is_a_post(make_user):
    make_user("buyer")
    client = Client()
    log_in(client, "buyer", "pw-123456")
    assert client.get(reverse("account_logout")).status_code == 200  # a confirmation page
    assert signed_in_as(client) == "buyer"
    assert client.post(reverse("account_logout"))["Location"] == "/"
    assert signed_in_as(client) is None


def test_password_reset_mails_a_link_that_sets_a_new_password(make_user, smtp_server):
    make_user("buyer")
    client = Client()
    sent = client.post(reverse("account_reset_password"), {"email": "buyer@example.com"})
    assert sent["Location"] == reverse("account_reset_password_done")

    link = smtp_server.link(smtp_server.to("buyer@example.com")[0], RESET_PATH)
    form_page = client.get(link, follow=True)  # allauth moves the key into the session
    assert form_page.status_code == 200 and 'name="password1"' in form_page.content.decode()
    new = "An0ther-long-pass"
    done = client.post(form_page.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert done["Location"] == reverse("account_reset_password_from_key_done")

    old = Client()
    log_in(old, "buyer", "pw-123456")
    assert signed_in_as(old) is None
    fresh = Client()
    log_in(fresh, "buyer", new)
    assert signed_in_as(fresh) == "buyer"


def test_password_reset_for_an_unknown_address_still_mails_it(client, smtp_server):
    # "Sent" is always the answer (no enumeration), and now something is sent.
    sent = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert sent["Location"] == reverse("account_reset_password_done")
    assert len(smtp_server.to("nobody@example.com")) == 1


def test_account_pages_use_the_site_layout(client):
    for name in ("account_login", "account_signup", "account_reset_password"):
        page = client.get(reverse(name)).content.decode()
        assert 'class="site-header"' in page and "· Marketplace</title>" in page, name
        assert '<form method="post" class="stacked"' in page, name
    nav = client.get("/").content.decode()
    assert f'href="{reverse("account_login")}"' in nav
    assert f'href="{reverse("account_signup")}"' in nav
