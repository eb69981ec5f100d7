"""The marketplace's accounts: django-allauth, with the site's wording and a mail check."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import LoginForm as AllauthLoginForm
from django.conf import settings
from django.core.checks import CheckMessage, Error

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url: str) -> bool:
        """Only a path on this site: allauth already refuses other hosts and schemes; a
        relative "foo" would land on /accounts/login/foo, and nothing here needs a full URL."""
        return url.startswith("/") and super().is_safe_url(url)


class LoginForm(AllauthLoginForm):
    """allauth's login form; the one field takes a username or an email, and says so."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Username or email"


def check_email_configured(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With mandatory verification no one can sign up (or reset a password) without mail."""
    if settings.EMAIL_BACKEND == SMTP_BACKEND and not settings.EMAIL_HOST:
        return [
            Error(
                "Email is not configured: sign-up confirmations and password resets "
                "cannot be sent.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, "
                "DEFAULT_FROM_EMAIL), or EMAIL_BACKEND for another backend.",
                id="marketplace.E001",
            )
        ]
    return []
