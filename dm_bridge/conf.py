"""dm_bridge settings: one ``DM_BRIDGE = {...}`` dict in the host's settings, read at call time.

Every key and its default is listed in ``DEFAULTS`` and documented in docs/settings.md; the
system checks refuse any other key (``dm_bridge.E007``) and values outside ``CHOICES`` (E008). Values are looked up on each access (``dm_bridge_settings.API_KEY``), so
``override_settings(DM_BRIDGE=...)`` in tests and settings changed at runtime both just work.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # Whop credentials and endpoints.
    "API_KEY": "",
    "COMPANY_ID": "",
    "BASE_URL": "https://api.whop.com/api/v1",
    "API_VERSION": "2026-10-15-1",
    "ELEMENTS_URL": "https://apollo.elements.whop.com/release/elements.js",
    "ENVIRONMENT": "production",  # `new WhopElements({environment})`: "production" | "sandbox"
    "WEBHOOK_SECRET": "",
    # "request": apply an event in the request that brought it (a failure answers 500, Whop
    # retries); "worker": store it, answer at once, a Celery worker applies it (needs
    # TASKS_ENABLED; failures retried by dm_bridge until RETRY_HORIZON).
    "WEBHOOK_APPLY": "request",
    # HTTP.
    "TIMEOUT": 15.0,  # seconds per Whop call (read/write)
    "CONNECT_TIMEOUT": 5.0,
    # Chat tokens minted for the browser.
    "TOKEN_SCOPES": ["dms:read", "dms:message:manage"],
    "TOKEN_LIFETIME": 3600,  # seconds; Whop allows at most 3 h, we cap at 1 h
    "TOKEN_REFRESH_MARGIN": 60,  # cached tokens are reused until this long before expiry
    "TOKEN_RATE_LIMIT": "30/min",  # per user, on the token endpoint (DRF throttle syntax)
    # Whop calls: per-operation limit (requests/minute) and the share of it we use.
    "RATE_LIMIT_PER_MINUTE": 600,
    "RATE_LIMIT_OVERRIDES": {},  # {"dm_channels.create": 300, ...}
    "RATE_LIMIT_SAFETY": 0.98,  # share of the rate used when pacing a backlog
    "RATE_LIMIT_WINDOW": 60.0,  # seconds Whop counts the limit over (benches scale it down)
    # Share of the per-window limit an idle operation may send at once (0 = even pacing);
    # a 429 during a burst halves it for that operation (learnt, shared through Redis).
    "RATE_LIMIT_BURST": 1.0,
    "REDIS_URL": "",  # shared limiter; empty -> a per-process limiter (single worker only)
    # Task layer.
    "TASKS_ENABLED": True,  # False: work runs inline in the request (tests, tiny sites)
    # Whop unavailable (no answer, 408, 429, 5xx): retried until this long after the streak's
    # first failure (``waiting_since``), then the row fails. Permanent errors fail at once.
    "RETRY_HORIZON": 172_800.0,  # seconds (48 h): outlives a day-long Whop outage
    "MAX_ATTEMPTS": 8,  # a retryable *refusal* (409 Conflict) this many times in a row fails
    "RETRY_BACKOFF_BASE": 2.0,  # seconds; doubled each attempt, with jitter
    "RETRY_BACKOFF_MAX": 600.0,
    # Channels per task when requests hand their work over together (``services.bulk()``).
    "BATCH_SIZE": 10,
    "LEASE_SECONDS": 90,  # a worker's claim on a row; a dead worker's claim expires after this
    "SWEEP_INTERVAL": 30,  # seconds between sweeper runs: beat's entry (tasks.schedule_sweeper)
    "SWEEP_QUEUE": "dm_bridge_sweep",  # Celery queue of the sweeper ("" = Celery's default)
    # Fairness: a requester's channels beyond this many waiting to be created are driven from
    # BACKLOG_QUEUE, so one user's flood cannot starve everyone else's DMs (0 = off).
    "BACKLOG_THRESHOLD": 3,
    "BACKLOG_QUEUE": "dm_bridge_backlog",  # also bulk user provisioning ("" = Celery's default)
    # Domain.
    "MAX_MEMBERS": 50,
    "MAX_KEY_LENGTH": 200,
    "MAX_NAME_LENGTH": 100,
    "USER_ADAPTER": "dm_bridge.adapters.DefaultUserAdapter",
    # Web surface.
    "POLICY": "dm_bridge.policy.DefaultPolicy",  # who may see/open/change which DM via the API
    "API_PAGE_SIZE": 20,
    "CHAT_STYLE": "imessage",  # chat element style: "imessage" or "discord"
    # Email reminders about unread DMs (services/reminders.py); off until the host turns them on.
    "REMINDERS_ENABLED": False,
    "REMINDER_DELAY": 300,  # seconds a message stays unread before it is reminded about
    "REMINDER_WINDOW": 3600,  # seconds: at most one reminder per conversation and member
    "REMINDER_PREVIEW": True,  # show (and store) the start of each message in the email
    "REMINDER_EMAIL": True,  # False: only the dm_reminder_due signal (push/SMS), no email
    "REMINDER_DEFAULT_FREQUENCY": "batch",  # for users without a preference: batch|daily|off
    "REMINDER_DIGEST_HOUR": 8,  # local hour (TIME_ZONE) from which the daily digest goes out
    "REMINDER_SCAN_INTERVAL": 30,  # seconds between beat's reminder scans
    "REMINDER_FROM_EMAIL": "",  # "" = DEFAULT_FROM_EMAIL
    "REMINDER_UNSUBSCRIBE_MAX_AGE": 60 * 86_400,  # seconds an unsubscribe link works
    "REMINDER_ADAPTER": "dm_bridge.adapters.DefaultReminderAdapter",  # titles and deep links
    "SITE_URL": "",  # e.g. "https://shop.example": makes the emails' links absolute
    # Trust and safety (services/blocks.py, services/moderation.py).
    "MODERATION_ADAPTER": "dm_bridge.adapters.DefaultModerationAdapter",  # parties and their users
    "MODERATION_RATE_LIMIT": "30/hour",  # per user, on the report and block endpoints
    "MODERATION_NOTE_MAX_LENGTH": 2000,  # characters in a report's note
    "MODERATION_CONTEXT_MESSAGES": 10,  # messages shown before and after a reported one
    "MODERATION_CONTEXT_SCAN": 200,  # newest messages searched for the reported one
    "MODERATION_WARNING_MESSAGE": (
        "A note from this site's moderators: please keep this conversation respectful and on "
        "this site. Payments and contact details outside it are not protected."
    ),  # what "warn" posts in the DM (as the app)
    # Contact-info detection and response times (services/contact_detection.py, response_times.py)
    "CONTACT_DETECTION": "flag",  # off | flag (moderation queue) | warn (queue + a DM reminder)
    "CONTACT_DETECTION_ALLOWED_DOMAINS": ["whop.com"],  # + SITE_URL's host; subdomains too
    "CONTACT_WARNING_MESSAGE": (
        "A reminder from this site: please keep contact details and payments on this site. "
        "Deals made elsewhere are not protected."
    ),  # what "warn" posts in the DM (as the app), once per flagged message
    "RESPONSE_TIME_ADAPTER": "dm_bridge.services.response_times.DefaultResponseTimeAdapter",
    "RESPONSE_TIME_WINDOW_DAYS": 90,  # conversations started in this many days count
    "RESPONSE_TIME_MIN_ANSWERED": 5,  # answered conversations before the badge is shown
    "RESPONSE_TIME_REFRESH": 3600,  # seconds a summary is reused before the window is re-slid
}

IMPORT_STRINGS = {
    "USER_ADAPTER",
    "POLICY",
    "REMINDER_ADAPTER",
    "MODERATION_ADAPTER",
    "RESPONSE_TIME_ADAPTER",
}

# Settings with a closed set of values (checked by dm_bridge.E008; the first is the default's type).
CHOICES: dict[str, tuple[Any, ...]] = {
    "CHAT_STYLE": ("imessage", "discord"),  # Whop's Chat element styles
    "ENVIRONMENT": ("production", "sandbox"),  # what `new WhopElements({environment})` accepts
    "TASKS_ENABLED": (True, False),
    "WEBHOOK_APPLY": ("request", "worker"),
    "REMINDERS_ENABLED": (False, True),
    "REMINDER_PREVIEW": (True, False),
    "REMINDER_EMAIL": (True, False),
    "REMINDER_DEFAULT_FREQUENCY": ("batch", "daily", "off"),
    "CONTACT_DETECTION": ("flag", "off", "warn"),
}


class DmBridgeSettings:
    """Attribute access to ``settings.DM_BRIDGE`` merged over ``DEFAULTS``, resolved per access."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown dm_bridge setting: {name!r}")
        user = getattr(settings, "DM_BRIDGE", None) or {}
        value = user.get(name, DEFAULTS[name])
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        return value

    def rate_limit_for(self, operation: str) -> int:
        """Requests per minute allowed for a Whop operation such as ``dm_channels.create``."""
        return int(self.RATE_LIMIT_OVERRIDES.get(operation, self.RATE_LIMIT_PER_MINUTE))

    def raw(self, name: str) -> Any:
        """The configured value without import-string resolution (for system checks)."""
        user = getattr(settings, "DM_BRIDGE", None) or {}
        return user.get(name, DEFAULTS[name])


dm_bridge_settings = DmBridgeSettings()
