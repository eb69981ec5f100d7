"""System checks for ``DM_BRIDGE`` (registered in ``DmBridgeConfig.ready``).

IDs are stable; silence one with ``SILENCED_SYSTEM_CHECKS = ["dm_bridge.W003"]``.

========== ===================================================================================
E001       ``API_KEY`` is empty.
E002       ``COMPANY_ID`` is empty.
E003       ``USER_ADAPTER``, ``POLICY``, ``REMINDER_ADAPTER``, ``MODERATION_ADAPTER`` or
           ``RESPONSE_TIME_ADAPTER`` is not an importable dotted path.
E004       ``TASKS_ENABLED`` but no Celery broker (``CELERY_BROKER_URL``) or Celery not installed.
E005       A numeric setting is out of range (``MAX_MEMBERS``, ``TOKEN_LIFETIME``,
           ``RATE_LIMIT_SAFETY``, ``RATE_LIMIT_WINDOW``, ``RATE_LIMIT_BURST``,
           ``RETRY_HORIZON``, ``BACKLOG_THRESHOLD``).
E006       ``SWEEP_QUEUE`` or ``BACKLOG_QUEUE`` is not a string (a Celery queue name, or "").
E007       ``DM_BRIDGE`` has a key dm_bridge does not know (a typo such as ``TASK_ENABLED``), or
           is not a dict; the hint names the closest known key.
E008       A setting has a value outside its choices (``CHAT_STYLE``, ``ENVIRONMENT``) or of
           the wrong type (``TASKS_ENABLED`` not a bool); the hint names the closest choice.
W001       ``BASE_URL`` is not a whop.com URL while ``DEBUG`` is off (the emulator in production?).
W002       ``ELEMENTS_URL`` is not on ``*.whop.com`` while ``DEBUG`` is off.
W003       ``REDIS_URL`` is empty while ``TASKS_ENABLED``: the rate limiter is per process.
W004       ``WEBHOOK_SECRET`` is empty while ``DEBUG`` is off: webhooks are refused (503).
W005       ``REMINDERS_ENABLED`` but ``SITE_URL`` is empty: the emails' links would be paths.
W006       ``WEBHOOK_APPLY`` is ``"worker"`` while ``TASKS_ENABLED`` is off: events are applied
           in the request after all.
E009       ``CONTACT_DETECTION_ALLOWED_DOMAINS`` is not a list of domain names, or
           ``CONTACT_WARNING_MESSAGE`` is empty while ``CONTACT_DETECTION`` is ``"warn"``.
========== ===================================================================================
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .conf import CHOICES, DEFAULTS, dm_bridge_settings

WHOP_DOMAIN = "whop.com"


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``DM_BRIDGE`` check, reading the settings as they are now."""
    if unknown := _check_keys():
        return unknown  # a misspelt or non-dict DM_BRIDGE makes every later message misleading
    return [
        *_check_choices(),
        *_check_credentials(),
        *_check_user_adapter(),
        *_check_queues(),
        *_check_urls(),
        *_check_tasks(),
        *_check_numbers(),
        *_check_webhook_secret(),
        *_check_webhook_apply(),
        *_check_reminders(),
        *_check_contact_detection(),
    ]


def _check_credentials() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not _text(dm_bridge_settings.raw("API_KEY")):
        messages.append(
            Error(
                "DM_BRIDGE['API_KEY'] is not set: dm_bridge cannot call Whop.",
                hint=(
                    "Set DM_BRIDGE['API_KEY'] to your Whop company API key (apik_…, from the "
                    "developer dashboard), e.g. from an environment variable. In development "
                    "and CI use the bundled emulator's key 'apik_emulator_dev' (manage.py "
                    "dm_bridge_emulator; CI: dm_bridge's docs/installation.md, 'CI without real "
                    "keys')."
                ),
                id="dm_bridge.E001",
            )
        )
    if not _text(dm_bridge_settings.raw("COMPANY_ID")):
        messages.append(
            Error(
                "DM_BRIDGE['COMPANY_ID'] is not set: dm_bridge does not know which Whop company "
                "its users and DMs belong to.",
                hint=(
                    "Set DM_BRIDGE['COMPANY_ID'] to your platform company's ID (biz_…); with "
                    "the bundled emulator it is 'biz_emulator'."
                ),
                id="dm_bridge.E002",
            )
        )
    return messages


def _check_keys() -> list[CheckMessage]:
    configured = getattr(settings, "DM_BRIDGE", None)
    if configured is None:
        return []
    if not isinstance(configured, dict):
        return [
            Error(
                f"DM_BRIDGE is {type(configured).__name__}, not a dict.",
                hint="Set DM_BRIDGE = {'API_KEY': …, 'COMPANY_ID': …} (see the settings reference).",
                id="dm_bridge.E007",
            )
        ]
    return [
        Error(
            f"DM_BRIDGE has an unknown key {key!r}: dm_bridge ignores it.",
            hint=_did_you_mean(str(key), DEFAULTS)
            or "Remove it; every key is listed in dm_bridge's settings reference (docs/settings.md).",
            id="dm_bridge.E007",
        )
        for key in configured
        if key not in DEFAULTS
    ]


def _check_choices() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, allowed in CHOICES.items():
        value = dm_bridge_settings.raw(name)
        if value in allowed and type(value) is type(next(iter(allowed))):
            continue
        hint = (_did_you_mean(value, allowed) if isinstance(value, str) else "") or (
            f"Set DM_BRIDGE[{name!r}] to one of {_listing(allowed)}, or remove it to use the "
            "default."
        )
        messages.append(
            Error(
                f"DM_BRIDGE[{name!r}] is {value!r}; it must be one of {_listing(allowed)}.",
                hint=hint,
                id="dm_bridge.E008",
            )
        )
    return messages


def _did_you_mean(word: str, known: Any) -> str:
    """A "Did you mean …?" hint for the closest of ``known`` (case-insensitive; a prefix
    counts), or "" when nothing is close."""
    by_upper = {str(k).upper(): k for k in known}
    upper = word.upper()
    close = (
        difflib.get_close_matches(upper, by_upper, n=1)
        or [k for k in by_upper if len(upper) >= 3 and k.startswith(upper)][:1]
    )
    return f"Did you mean {by_upper[close[0]]!r}?" if close else ""


def _listing(values: Any) -> str:
    return ", ".join(repr(v) for v in values)


def _check_user_adapter() -> list[CheckMessage]:
    return [
        *_check_import_string(
            "USER_ADAPTER",
            "myproject.adapters.UserAdapter",
            "dm_bridge.adapters.DefaultUserAdapter",
        ),
        *_check_import_string(
            "POLICY", "myproject.dm_policy.Policy", "dm_bridge.policy.DefaultPolicy"
        ),
        *_check_import_string(
            "REMINDER_ADAPTER",
            "myproject.adapters.ReminderAdapter",
            "dm_bridge.adapters.DefaultReminderAdapter",
        ),
        *_check_import_string(
            "MODERATION_ADAPTER",
            "myproject.adapters.ModerationAdapter",
            "dm_bridge.adapters.DefaultModerationAdapter",
        ),
        *_check_import_string(
            "RESPONSE_TIME_ADAPTER",
            "myproject.adapters.ResponseTimeAdapter",
            "dm_bridge.services.response_times.DefaultResponseTimeAdapter",
        ),
    ]


def _check_import_string(name: str, example: str, base: str) -> list[CheckMessage]:
    path = dm_bridge_settings.raw(name)
    if not isinstance(path, str):
        if callable(path):
            return []
        problem = f"is {path!r}, not a dotted path"
    else:
        try:
            import_string(path)
        except ImportError as exc:
            problem = f"{path!r} cannot be imported ({exc})"
        else:
            return []
    return [
        Error(
            f"DM_BRIDGE[{name!r}] {problem}.",
            hint=(
                f"Set DM_BRIDGE[{name!r}] to the dotted path of a class such as {example!r} "
                f"(a subclass of {base}), or remove it to use the default."
            ),
            id="dm_bridge.E003",
        )
    ]


def _check_urls() -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    messages: list[CheckMessage] = []
    base_url = _text(dm_bridge_settings.raw("BASE_URL"))
    if not _is_whop_url(base_url, allow_apex=True):
        messages.append(
            Warning(
                f"DM_BRIDGE['BASE_URL'] is {base_url!r}, not a whop.com URL, while DEBUG is off: "
                "production may be talking to the Whop emulator or another stand-in.",
                hint=(
                    "Set DM_BRIDGE['BASE_URL'] to 'https://api.whop.com/api/v1' (or remove it "
                    "to use that default); keep emulator URLs for DEBUG or tests."
                ),
                id="dm_bridge.W001",
            )
        )
    elements_url = _text(dm_bridge_settings.raw("ELEMENTS_URL"))
    if not _is_whop_url(elements_url, allow_apex=False):
        messages.append(
            Warning(
                f"DM_BRIDGE['ELEMENTS_URL'] is {elements_url!r}, not on *.whop.com, while DEBUG "
                "is off: browsers would load the chat elements from somewhere other than Whop.",
                hint=(
                    "Set DM_BRIDGE['ELEMENTS_URL'] to "
                    "'https://apollo.elements.whop.com/release/elements.js' (or remove it to use "
                    "that default)."
                ),
                id="dm_bridge.W002",
            )
        )
    return messages


def _check_tasks() -> list[CheckMessage]:
    if not dm_bridge_settings.raw("TASKS_ENABLED"):
        return []
    messages: list[CheckMessage] = []
    celery_installed = importlib.util.find_spec("celery") is not None
    broker = _text(getattr(settings, "CELERY_BROKER_URL", "")) or _text(
        os.environ.get("CELERY_BROKER_URL", "")
    )
    if not celery_installed or not broker:
        problem = (
            "Celery is not installed" if not celery_installed else "CELERY_BROKER_URL is not set"
        )
        messages.append(
            Error(
                f"DM_BRIDGE['TASKS_ENABLED'] is on but {problem}: Whop work would never run.",
                hint=(
                    "Install the celery extra (pip install 'dm-bridge[celery]') and set "
                    "CELERY_BROKER_URL (e.g. 'redis://localhost:6379/0') in settings, with a Celery "
                    "app loading them (namespace='CELERY'); or set "
                    "DM_BRIDGE['TASKS_ENABLED'] = False to run the work inline."
                ),
                id="dm_bridge.E004",
            )
        )
    if not _text(dm_bridge_settings.raw("REDIS_URL")):
        messages.append(
            Warning(
                "DM_BRIDGE['REDIS_URL'] is empty while TASKS_ENABLED: the Whop rate limiter is "
                "per process, which is fine for one worker process but lets several workers "
                "together exceed Whop's limit (and hit 429s).",
                hint=(
                    "Set DM_BRIDGE['REDIS_URL'] (e.g. 'redis://localhost:6379/1') to share the "
                    "limiter between workers; silence dm_bridge.W003 if you run a single worker."
                ),
                id="dm_bridge.W003",
            )
        )
    return messages


def _check_webhook_apply() -> list[CheckMessage]:
    if dm_bridge_settings.raw("WEBHOOK_APPLY") != "worker" or dm_bridge_settings.raw(
        "TASKS_ENABLED"
    ):
        return []
    return [
        Warning(
            "DM_BRIDGE['WEBHOOK_APPLY'] is \"worker\" but TASKS_ENABLED is off: there are no "
            'workers, so the receiver applies each event in the request, as with "request".',
            hint=(
                'Turn TASKS_ENABLED on (and run Celery workers), or set WEBHOOK_APPLY to "request".'
            ),
            id="dm_bridge.W006",
        )
    ]


def _check_webhook_secret() -> list[CheckMessage]:
    secret = dm_bridge_settings.raw("WEBHOOK_SECRET")
    secrets = secret if isinstance(secret, list | tuple) else [secret]
    if settings.DEBUG or any(_text(s) for s in secrets):
        return []
    return [
        Warning(
            "DM_BRIDGE['WEBHOOK_SECRET'] is empty: the webhook receiver refuses Whop's events "
            "(503), so last_message_at and unread counts never update.",
            hint=(
                "Create a webhook in Whop's dashboard for <your site>/<dm_bridge.urls prefix>/"
                "webhooks/whop/ and set its ws_… secret; silence dm_bridge.W004 if you do not "
                "include dm_bridge.urls."
            ),
            id="dm_bridge.W004",
        )
    ]


# (setting, lowest, highest, lowest allowed?, what it means)
NUMERIC_RANGES: tuple[tuple[str, float, float, bool, str], ...] = (
    ("MAX_MEMBERS", 1, 50, True, "an integer from 1 to 50 (Whop's cap on DM members)"),
    (
        "TOKEN_LIFETIME",
        60,
        3600,
        True,
        "an integer number of seconds from 60 to 3600 (chat tokens live at most an hour)",
    ),
    (
        "RATE_LIMIT_SAFETY",
        0,
        1,
        False,
        "a number greater than 0 and at most 1 (the share of Whop's rate limit to use, e.g. 0.98)",
    ),
    (
        "RATE_LIMIT_WINDOW",
        0,
        86_400,
        False,
        "a number of seconds greater than 0 and at most 86400 (the window Whop counts "
        "RATE_LIMIT_PER_MINUTE over: 60)",
    ),
    (
        "RATE_LIMIT_BURST",
        0,
        1,
        True,
        "a number from 0 to 1 (the share of the window's limit an idle operation may send at "
        "once; 0 paces evenly)",
    ),
    (
        "RETRY_HORIZON",
        0,
        30 * 86_400,
        False,
        "a number of seconds greater than 0 and at most 30 days (how long Whop being "
        "unavailable is retried, e.g. 172800 for 48 h)",
    ),
    (
        "BATCH_SIZE",
        1,
        100,
        True,
        "an integer from 1 to 100 (channels per task when requests hand their work over "
        "together with services.bulk())",
    ),
    (
        "BACKLOG_THRESHOLD",
        0,
        1_000_000,
        True,
        "an integer of at least 0 (channels one requester may have waiting before the rest go "
        "to BACKLOG_QUEUE; 0 turns this off)",
    ),
)
NUMERIC_RANGES += (
    ("REMINDER_DELAY", 0, 7 * 86_400, True, "a number of seconds from 0 to 7 days"),
    ("REMINDER_WINDOW", 0, 30 * 86_400, True, "a number of seconds from 0 to 30 days"),
    ("REMINDER_DIGEST_HOUR", 0, 23, True, "an hour of the day, an integer from 0 to 23"),
    ("REMINDER_SCAN_INTERVAL", 0, 3600, False, "a number of seconds above 0, at most 3600"),
    (
        "REMINDER_UNSUBSCRIBE_MAX_AGE",
        0,
        366 * 86_400,
        False,
        "a number of seconds above 0, at most a year (how long unsubscribe links work)",
    ),
)
NUMERIC_RANGES += (
    ("RESPONSE_TIME_WINDOW_DAYS", 1, 366, True, "a number of days from 1 to 366"),
    ("RESPONSE_TIME_MIN_ANSWERED", 1, 1_000_000, True, "an integer of at least 1"),
    ("RESPONSE_TIME_REFRESH", 0, 7 * 86_400, True, "a number of seconds from 0 to 7 days"),
)
FRACTIONAL = {
    "RESPONSE_TIME_REFRESH",
    "RATE_LIMIT_SAFETY",
    "RATE_LIMIT_WINDOW",
    "RATE_LIMIT_BURST",
    "RETRY_HORIZON",
    "REMINDER_DELAY",
    "REMINDER_WINDOW",
    "REMINDER_SCAN_INTERVAL",
    "REMINDER_UNSUBSCRIBE_MAX_AGE",
}


def _check_numbers() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, low, high, low_allowed, meaning in NUMERIC_RANGES:
        value = dm_bridge_settings.raw(name)
        if _in_range(value, low, high, low_allowed, integer=(name not in FRACTIONAL)):
            continue
        messages.append(
            Error(
                f"DM_BRIDGE[{name!r}] is {value!r}; it must be {meaning}.",
                hint=f"Set DM_BRIDGE[{name!r}] to {meaning}, or remove it to use the default.",
                id="dm_bridge.E005",
            )
        )
    return messages


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)


def _check_contact_detection() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    domains = dm_bridge_settings.raw("CONTACT_DETECTION_ALLOWED_DOMAINS")
    if not isinstance(domains, list | tuple) or not all(
        isinstance(d, str) and _DOMAIN.fullmatch(d) for d in domains
    ):
        messages.append(
            Error(
                f"DM_BRIDGE['CONTACT_DETECTION_ALLOWED_DOMAINS'] is {domains!r}; it must be a "
                "list of domain names.",
                hint="e.g. ['whop.com', 'shop.example'] (subdomains are allowed with them).",
                id="dm_bridge.E009",
            )
        )
    warning = dm_bridge_settings.raw("CONTACT_WARNING_MESSAGE")
    if dm_bridge_settings.raw("CONTACT_DETECTION") == "warn" and not _text(warning).strip():
        messages.append(
            Error(
                "DM_BRIDGE['CONTACT_DETECTION'] is 'warn' but CONTACT_WARNING_MESSAGE is empty.",
                hint="Set CONTACT_WARNING_MESSAGE to the reminder to post, or use 'flag'.",
                id="dm_bridge.E009",
            )
        )
    return messages


def _check_reminders() -> list[CheckMessage]:
    if dm_bridge_settings.raw("REMINDERS_ENABLED") is not True or _text(
        dm_bridge_settings.raw("SITE_URL")
    ):
        return []
    return [
        Warning(
            "DM_BRIDGE['REMINDERS_ENABLED'] is on but DM_BRIDGE['SITE_URL'] is empty: reminder "
            "emails would carry paths instead of links that open the conversation.",
            hint="Set DM_BRIDGE['SITE_URL'] to your site's address, e.g. 'https://shop.example'.",
            id="dm_bridge.W005",
        )
    ]


def _check_queues() -> list[CheckMessage]:
    return [
        Error(
            f"DM_BRIDGE[{name!r}] is {value!r}; it must be a Celery queue name (a string).",
            hint=f"Set DM_BRIDGE[{name!r}] to a queue your workers consume (celery worker -Q …), "
            "or to '' for Celery's default routing.",
            id="dm_bridge.E006",
        )
        for name in ("SWEEP_QUEUE", "BACKLOG_QUEUE")
        if not isinstance(value := dm_bridge_settings.raw(name), str)
    ]


def _in_range(value: Any, low: float, high: float, low_allowed: bool, *, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        return False
    if not math.isfinite(value):
        return False
    above_low = value >= low if low_allowed else value > low
    return bool(above_low and value <= high)


def _is_whop_url(url: str, *, allow_apex: bool) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    on_whop = host.endswith("." + WHOP_DOMAIN) or (allow_apex and host == WHOP_DOMAIN)
    return parts.scheme == "https" and on_whop


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
