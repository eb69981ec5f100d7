"""Settings for the marketplace demo project.

Everything a deployment changes comes from the environment; the defaults give a zero-setup
demo (SQLite, a broker that needs no server, the local Whop emulator).
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MARKETPLACE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"

ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "allauth",
    "allauth.account",
    "dm_bridge",
    "marketplace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        # Workers and web processes keep their connection (a new one per task costs ~ms of CPU).
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL + a busy timeout let the web server and the worker share the file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
    # Tests with a live server answer requests (pages, webhooks) on several threads at once; an
    # in-memory database locks whole tables without waiting, a file with WAL waits its turn.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise

# --- Accounts: django-allauth (sign-up, email verification, login, password reset) -----------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# dm_bridge gives a user a Whop identity only for a verified email (a connected account for
# someone else's address would hand over that person's Whop DMs): verify before first login.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Marketplace] "
ACCOUNT_ADAPTER = "marketplace.accounts.AccountAdapter"  # `?next=` only to a path on this site
ACCOUNT_FORMS = {"login": "marketplace.accounts.LoginForm"}
# allauth's limits (issue 10: 50 sign-ups in 7 s, 40 wrong passwords without a lockout). Rules
# not named here keep allauth's defaults (confirm_email: one mail per address per 3 min;
# reset_password: 20/min per IP, 5/min per address). Counters live in the default cache, which
# every web process must share: Redis with REDIS_URL, else the file cache below (one machine).
ACCOUNT_RATE_LIMITS = {
    # Every POST counts, typos included: generous enough for a person, not for a script.
    "signup": "5/10m/ip,30/d/ip",
    # Per IP, and per login as typed (username or email): 5 wrong passwords lock that login
    # from every address for 5 minutes.
    "login_failed": "10/m/ip,5/5m/key",
}
# Behind N proxies that append to X-Forwarded-For, the client's address (for the per-IP limits
# above) is the N-th from the right; 0 = REMOTE_ADDR (a forged header is then ignored).
ALLAUTH_TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT") or "0")

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- Email: confirmation links and password resets ------------------------------------------
# (An empty number or address counts as unset: docker compose passes "" for what .env leaves
# empty; docker-compose.yml spells out the on/off switches' defaults.)
# EMAIL_HOST set → SMTP to it. Unset: the console backend with DEBUG (`make run` prints the
# links), otherwise SMTP with no host, which marketplace.E001 refuses at `migrate`/`check`:
# with mandatory verification a site that cannot send mail cannot sign anyone up.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT") or "587")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # implicit TLS (port 465)
# STARTTLS (port 587); Django refuses both at once, so implicit TLS wins.
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True) and not EMAIL_USE_SSL
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT") or "10")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG and not EMAIL_HOST
    else "django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "Marketplace <noreply@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- HTTPS: secure by default with DEBUG off; each switch can be turned off ----------------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container healthcheck speaks plain http
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(
    os.environ.get("DJANGO_SECURE_HSTS_SECONDS") or ("0" if DEBUG else str(365 * 24 * 3600))
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Opt-in: once the header is served anyone may submit the domain to the browsers' preload list.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# Only behind a proxy that terminates TLS and sets X-Forwarded-Proto itself (dropping the
# client's): then request.is_secure() and build_absolute_uri() — the "About: …" link in the
# DM, allauth's emailed links — say https. Without such a proxy the header is a client's claim.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "dm_bridge API",
    "DESCRIPTION": "Chat tokens, DM channels and members for the signed-in user.",
    "VERSION": "0.1.0",
}

# --- Redis (optional): broker, shared rate limiter, cache ------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    # One file-backed cache and a filesystem broker: the web server and the worker are separate
    # processes, so neither can be in-memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the DB connection after every task unless this is set; reusing it
# saves a connection per task (bench/channel_backlog.py: 2,001 -> 4 PostgreSQL sessions).
CELERY_DB_REUSE_MAX = 1000
# dm_bridge's sweeper re-enqueues work that was lost (killed worker, broker down at commit).
DM_BRIDGE_SWEEP_INTERVAL = float(os.environ.get("DM_BRIDGE_SWEEP_INTERVAL", "30"))
# The sweeper goes to its own queue (DM_BRIDGE["SWEEP_QUEUE"]), a flood to "dm_bridge_backlog":
# every worker consumes `-Q celery,dm_bridge_sweep,dm_bridge_backlog` (Procfile, compose).
CELERY_BEAT_SCHEDULE = {
    "dm-bridge-sweep": {"task": "dm_bridge.sweep", "schedule": DM_BRIDGE_SWEEP_INTERVAL},
    # Email reminders about unread DMs: the scan also goes to the sweeper's queue.
    "dm-bridge-reminders": {
        "task": "dm_bridge.scan_reminders",
        "schedule": float(os.environ.get("DM_BRIDGE_REMINDER_SCAN_INTERVAL", "30")),
    },
}

# --- dm_bridge ------------------------------------------------------------------------------
# Defaults point at the local emulator started by `make run`; production sets the WHOP_* vars.
EMULATOR_URL = os.environ.get("WHOP_EMULATOR_URL") or (
    f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '8765')}"  # `make run EMULATOR_PORT=…`
)
DM_BRIDGE = {
    "API_KEY": os.environ.get("WHOP_API_KEY", "apik_emulator_dev" if DEBUG else ""),
    "COMPANY_ID": os.environ.get("WHOP_COMPANY_ID", "biz_emulator" if DEBUG else ""),
    "BASE_URL": os.environ.get(
        "WHOP_API_BASE_URL", f"{EMULATOR_URL}/api/v1" if DEBUG else "https://api.whop.com/api/v1"
    ),
    "ELEMENTS_URL": os.environ.get(
        "WHOP_ELEMENTS_URL",
        f"{EMULATOR_URL}/release/elements.js"
        if DEBUG
        else "https://apollo.elements.whop.com/release/elements.js",
    ),
    "WEBHOOK_SECRET": os.environ.get(
        "WHOP_WEBHOOK_SECRET", "ws_emulator_dev_secret" if DEBUG else ""
    ),
    # "worker": the receiver stores and answers, a worker applies (bench/web_scale.py).
    "WEBHOOK_APPLY": os.environ.get("DM_BRIDGE_WEBHOOK_APPLY", "request"),
    "REDIS_URL": REDIS_URL,
    "POLICY": "marketplace.dm_policy.MarketplacePolicy",
    # Shops' chat identities: verified (the site owns their addresses), named after the shop.
    "USER_ADAPTER": "marketplace.dm_adapter.MarketplaceUserAdapter",
    # Blocks are between a buyer and a shop (its team speaks for it).
    "MODERATION_ADAPTER": "marketplace.moderation.MarketplaceModerationAdapter",
    "SWEEP_INTERVAL": DM_BRIDGE_SWEEP_INTERVAL,
    "LEASE_SECONDS": int(os.environ.get("DM_BRIDGE_LEASE_SECONDS", "90")),
    "TIMEOUT": float(os.environ.get("DM_BRIDGE_TIMEOUT", "15")),
    "RATE_LIMIT_PER_MINUTE": int(os.environ.get("DM_BRIDGE_RATE_LIMIT_PER_MINUTE", "600")),
    "RATE_LIMIT_WINDOW": float(os.environ.get("DM_BRIDGE_RATE_LIMIT_WINDOW", "60")),
    "RATE_LIMIT_BURST": float(os.environ.get("DM_BRIDGE_RATE_LIMIT_BURST", "1")),
    "RATE_LIMIT_SAFETY": float(os.environ.get("DM_BRIDGE_RATE_LIMIT_SAFETY", "0.98")),
    "MAX_ATTEMPTS": int(os.environ.get("DM_BRIDGE_MAX_ATTEMPTS", "8")),
    "RETRY_BACKOFF_BASE": float(os.environ.get("DM_BRIDGE_RETRY_BACKOFF_BASE", "2")),
    "RETRY_BACKOFF_MAX": float(os.environ.get("DM_BRIDGE_RETRY_BACKOFF_MAX", "600")),
    "RETRY_HORIZON": float(os.environ.get("DM_BRIDGE_RETRY_HORIZON", "172800")),
    "BACKLOG_THRESHOLD": int(os.environ.get("DM_BRIDGE_BACKLOG_THRESHOLD", "3")),
    "BATCH_SIZE": int(os.environ.get("DM_BRIDGE_BATCH_SIZE", "10")),
    # Email reminders about unread messages (the demo waits a minute, a site five by default).
    "REMINDERS_ENABLED": env_bool("DM_BRIDGE_REMINDERS", True),
    "REMINDER_DELAY": float(os.environ.get("DM_BRIDGE_REMINDER_DELAY") or (60 if DEBUG else 300)),
    "REMINDER_WINDOW": float(os.environ.get("DM_BRIDGE_REMINDER_WINDOW") or "3600"),
    "REMINDER_PREVIEW": env_bool("DM_BRIDGE_REMINDER_PREVIEW", True),
    "REMINDER_SCAN_INTERVAL": float(os.environ.get("DM_BRIDGE_REMINDER_SCAN_INTERVAL", "30")),
    "REMINDER_ADAPTER": "marketplace.dm_adapter.MarketplaceReminderAdapter",
    # Shops answer buyers (their response-time badge); off-site contact is flagged and answered.
    "RESPONSE_TIME_ADAPTER": "marketplace.dm_adapter.MarketplaceResponseTimeAdapter",
    "CONTACT_DETECTION": os.environ.get("DM_BRIDGE_CONTACT_DETECTION", "warn"),
    # The emails' links: the site's public address (`make run`: this machine's dev server).
    "SITE_URL": os.environ.get("SITE_URL")
    or (f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}" if DEBUG else ""),
}

# Without Redis the rate limiter is per process; the embedded demo runs a single worker process,
# so dm_bridge's warning about that does not apply here.
SILENCED_SYSTEM_CHECKS = [] if REDIS_URL else ["dm_bridge.W003"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        # The filesystem broker has no host; kombu warns about that on every connection.
        "kombu.connection": {"level": "ERROR"},
    },
}
