"""Production settings from the environment (issue 10, item 11): HTTPS, cookies, HSTS, the
proxy header, email. Settings are read in a fresh interpreter per environment, as a deployment
starts them; `manage.py check --deploy` must be clean with the documented variables set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from dm_bridge.models import DmOutboxMessage
from marketplace.models import Listing, Shop

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3y-for-this-test-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF",
    "DJANGO_ALLOWED_HOSTS": "shop.example",
    "WHOP_API_KEY": "apik_test",
    "WHOP_COMPANY_ID": "biz_test",
    "WHOP_WEBHOOK_SECRET": "ws_test",
    "EMAIL_HOST": "smtp.example",
    "SITE_URL": "https://shop.example",  # reminder emails link back to the site
}
READ = [
    "DEBUG",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "DEFAULT_FROM_EMAIL",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "ALLAUTH_TRUSTED_PROXY_COUNT",
]


def project_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """Only the given variables (none of this machine's DJANGO_*/EMAIL_*/…), var/ in tmp."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return {**keep, "MARKETPLACE_VAR_DIR": str(tmp_path), **env}


def settings_under(tmp_path: Path, **env: str) -> dict[str, Any]:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {READ!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**project_env(tmp_path, **env), "DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=project_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_run_defaults_print_mail_and_allow_plain_http(tmp_path):
    s = settings_under(tmp_path)  # DEBUG on, nothing set: `make run`
    assert s["DEBUG"] is True
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert not s["SECURE_SSL_REDIRECT"] and not s["SESSION_COOKIE_SECURE"]
    assert not s["CSRF_COOKIE_SECURE"] and s["SECURE_HSTS_SECONDS"] == 0


def test_production_defaults_are_secure(tmp_path):
    s = settings_under(tmp_path, **PRODUCTION)
    assert s["SECURE_SSL_REDIRECT"] and s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["SECURE_HSTS_PRELOAD"] is False  # opt-in
    assert s["SECURE_PROXY_SSL_HEADER"] is None  # trusted only when told
    assert s["ALLAUTH_TRUSTED_PROXY_COUNT"] == 0
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (s["EMAIL_HOST"], s["EMAIL_PORT"], s["EMAIL_USE_TLS"]) == ("smtp.example", 587, True)


def test_every_switch_comes_from_the_environment(tmp_path):
    s = settings_under(
        tmp_path,
        **PRODUCTION,
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SESSION_COOKIE_SECURE="0",
        DJANGO_CSRF_COOKIE_SECURE="0",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        DJANGO_SECURE_HSTS_PRELOAD="1",
        DJANGO_SECURE_PROXY_SSL_HEADER="1",
        DJANGO_TRUSTED_PROXY_COUNT="1",
        EMAIL_PORT="465",
        EMAIL_USE_SSL="1",
        EMAIL_USE_TLS="1",
        DEFAULT_FROM_EMAIL="Shop <hello@shop.example>",
    )
    assert not s["SECURE_SSL_REDIRECT"] and not s["SESSION_COOKIE_SECURE"]
    assert not s["CSRF_COOKIE_SECURE"] and s["SECURE_HSTS_SECONDS"] == 600
    assert not s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and s["SECURE_HSTS_PRELOAD"]
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["ALLAUTH_TRUSTED_PROXY_COUNT"] == 1
    # Implicit TLS turns STARTTLS off (Django refuses both at once), even if it is still on.
    assert (s["EMAIL_PORT"], s["EMAIL_USE_SSL"], s["EMAIL_USE_TLS"]) == (465, True, False)
    assert s["DEFAULT_FROM_EMAIL"] == "Shop <hello@shop.example>"


def test_check_deploy_is_clean_with_the_production_variables(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION, DJANGO_SECURE_HSTS_PRELOAD="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_a_missing_site_url(tmp_path):
    production = {key: value for key, value in PRODUCTION.items() if key != "SITE_URL"}
    result = check_deploy(tmp_path, **production, DJANGO_SECURE_HSTS_PRELOAD="1")
    assert result.returncode != 0
    assert "dm_bridge.W005" in result.stdout + result.stderr


def test_production_without_mail_is_refused(tmp_path):
    result = check_deploy(tmp_path, **{**PRODUCTION, "EMAIL_HOST": ""})
    assert result.returncode != 0 and "marketplace.E001" in result.stderr


@pytest.mark.django_db
def test_the_health_check_is_not_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    page = client.get("/")
    assert page.status_code == 301 and page["Location"] == "https://testserver/"
    assert client.get(reverse("health")).status_code == 200  # the container's plain-http probe


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("proxy_header", "forwarded_proto", "scheme"),
    [(True, "https", "https"), (True, None, "http"), (False, "https", "http")],
)
def test_the_listing_link_in_the_dm_is_https_behind_the_proxy(
    settings, make_user, proxy_header, forwarded_proto, scheme
):
    if proxy_header:
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    shop = Shop.objects.create(name="Bob's Bikes", owner=make_user("owner"))
    listing = Listing.objects.create(shop=shop, title="Bike", price=Decimal("100"))
    client = Client()
    client.force_login(make_user("buyer"))
    headers = {"Host": "testserver"}  # a proxy passes the public host on
    if forwarded_proto:
        headers["X-Forwarded-Proto"] = forwarded_proto
    client.post(reverse("listing-message", args=[listing.pk]), headers=headers)
    (message,) = DmOutboxMessage.objects.all()
    assert f"{scheme}://testserver/listings/{listing.pk}/" in message.content
