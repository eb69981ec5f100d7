"""The secret-leak scanner (tests/leakscan.py) fails a session that leaks, and only then.

Each case runs a small pytest session in a subprocess with the plugin (``-p tests.leakscan``)
and a minimal Django configuration of its own.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dm_bridge.testing import DEFAULT_API_KEY

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CONFIGURED_KEY = "apik_inner_configured_key"
CONFIGURED_SECRET = "ws_inner_configured_secret"
RUNTIME_KEY = "apik_inner_changed_at_runtime"

CONFTEST = f"""
import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="inner-session-django-secret-key",
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF="inner_urls",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    TEMPLATES=[{{"BACKEND": "django.template.backends.django.DjangoTemplates"}}],
    DM_BRIDGE={{"API_KEY": {CONFIGURED_KEY!r}, "WEBHOOK_SECRET": [{CONFIGURED_SECRET!r}, "short"]}},
)
django.setup()
"""

URLS = """
from django.conf import settings
from django.http import HttpResponse
from django.urls import path


def leaky(request):
    return HttpResponse("the key is " + settings.DM_BRIDGE["API_KEY"] + " (oops)")


def leaky_header(request):
    response = HttpResponse("fine body")
    response["X-Debug-Secret"] = settings.DM_BRIDGE["WEBHOOK_SECRET"][0]
    return response


def safe(request):
    return HttpResponse("nothing to see; short is not a secret")


urlpatterns = [path("leaky/", leaky), path("leaky-header/", leaky_header), path("safe/", safe)]
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(inner_urls=URLS)
    return pytester


def run(inner: pytest.Pytester, *args: str) -> pytest.RunResult:
    *options, source = args
    inner.makepyfile(test_inner=textwrap.dedent(source))
    return inner.runpytest_subprocess(
        "-p", "tests.leakscan", "-p", "no:django", "-p", "no:cacheprovider", *options, timeout=120
    )


def assert_masked(result: pytest.RunResult, *secrets: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    for secret in secrets:
        assert secret not in output, f"the report shows {secret!r} unmasked"


def test_leaks_in_logs_responses_templates_and_worker_logs_fail_the_session(inner: Any):
    result = run(
        inner,
        f"""
        import logging
        from django.conf import settings
        from django.template import Context, Template
        from django.test import Client, override_settings
        from dm_bridge.testing import DEFAULT_API_KEY, CeleryProcesses


        def test_debug_log_line():
            logging.getLogger("dm_bridge.whop").debug("calling Whop with %s", DEFAULT_API_KEY)


        def test_response_body_and_header():
            assert Client().get("/leaky/").status_code == 200
            assert Client().get("/leaky-header/").status_code == 200


        def test_rendered_template():
            Template("secret: {{{{ s }}}}").render(Context({{"s": settings.DM_BRIDGE["WEBHOOK_SECRET"][0]}}))


        def test_setting_changed_at_runtime():
            with override_settings(DM_BRIDGE={{"API_KEY": {RUNTIME_KEY!r}}}):
                logging.getLogger("app").warning("key now %s", {RUNTIME_KEY!r})


        def test_worker_log(tmp_path):
            procs = CeleryProcesses("app", {{}}, tmp_path)  # never started: only its log dir
            (tmp_path / "worker.log").write_text("booting\\nWHOP_API_KEY={CONFIGURED_KEY}\\n")
        """,
    )
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert "secret leak scan" in output
    assert "6 secret leak(s) found" in output
    for expected in [
        "[log] log DEBUG dm_bridge.whop (during test_inner.py::test_debug_log_line) leaks "
        "dm_bridge.testing.DEFAULT_API_KEY:\n    'DEBUG dm_bridge.whop calling Whop with "
        "[dm_bridge.testing.DEFAULT_API_KEY]'",
        "[response] response GET /leaky/ -> 200 (during test_inner.py::test_response_body_and_header) "
        "leaks DM_BRIDGE['API_KEY']:\n    \"the key is [DM_BRIDGE['API_KEY']] (oops)\"",
        "[response] response GET /leaky-header/ -> 200 (headers) (during "
        "test_inner.py::test_response_body_and_header) leaks DM_BRIDGE['WEBHOOK_SECRET']:",
        "X-Debug-Secret: [DM_BRIDGE['WEBHOOK_SECRET']]",
        "[template] template (from string) (during test_inner.py::test_rendered_template) "
        "leaks DM_BRIDGE['WEBHOOK_SECRET']:",
        "[log] log WARNING app (during test_inner.py::test_setting_changed_at_runtime) leaks "
        "DM_BRIDGE['API_KEY']:\n    \"WARNING app key now [DM_BRIDGE['API_KEY']]\"",
        "worker.log line 2 (during no test) leaks DM_BRIDGE['API_KEY']:\n"
        "    \"WHOP_API_KEY=[DM_BRIDGE['API_KEY']]\\n\"",
        "@pytest.mark.leakscan_exempt",
    ]:
        assert expected in output, expected
    assert_masked(result, DEFAULT_API_KEY, CONFIGURED_KEY, CONFIGURED_SECRET, RUNTIME_KEY)


def test_a_clean_session_stays_green(inner: Any):
    result = run(
        inner,
        """
        import logging
        from django.template import Context, Template
        from django.test import Client


        def test_clean(caplog):
            logging.getLogger("dm_bridge.whop").debug("whop POST /dm_channels -> 200 in 3 ms")
            logging.getLogger("app").error("something failed, short, but no secret")
            assert Client().get("/safe/").content == b"nothing to see; short is not a secret"
            assert Template("{{ a }}").render(Context({"a": "apik_"})) == "apik_"


        def test_secrets_built_by_the_test_itself_are_not_scanned():
            from django.conf import settings

            text = repr(settings.DM_BRIDGE)  # e.g. asserting a repr hides the key
            assert "apik_inner_configured_key" in text
        """,
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert "leak(s) found" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["secret leak scan: clean (scanned 2 log records, 2 responses/headers, 1 template renders*"]
    )


def test_an_exempt_test_may_emit_a_secret(inner: Any):
    result = run(
        inner,
        """
        import logging
        import pytest
        from django.test import Client
        from dm_bridge.testing import DEFAULT_API_KEY


        @pytest.mark.leakscan_exempt
        def test_on_purpose():
            logging.getLogger("app").warning("key %s", DEFAULT_API_KEY)
            assert b"apik_inner_configured_key" in Client().get("/leaky/").content


        def test_clean():
            logging.getLogger("app").warning("nothing")
        """,
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


def test_a_leaking_session_fails_even_when_every_test_passed_with_x(inner: Any):
    """The scanner's verdict survives -x and is printed once at the end."""
    result = run(
        inner,
        "-x",
        """
        import logging
        from dm_bridge.testing import DEFAULT_API_KEY


        def test_leak():
            logging.getLogger("app").warning("key %s", DEFAULT_API_KEY)
        """,
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count("secret leak(s) found") == 1
