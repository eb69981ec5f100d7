"""dm_bridge's system checks: each ID fires on its bad setting, and none fire on good settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning, run_checks

from dm_bridge.checks import check_settings

PRODUCTION = {
    "API_KEY": "apik_live_123",
    "COMPANY_ID": "biz_123",
    "BASE_URL": "https://api.whop.com/api/v1",
    "ELEMENTS_URL": "https://apollo.elements.whop.com/release/elements.js",
    "TASKS_ENABLED": True,
    "REDIS_URL": "redis://localhost:6379/1",
    "WEBHOOK_SECRET": "ws_live_123",
}


@pytest.fixture
def production(settings: Any) -> Any:
    settings.DEBUG = False
    settings.CELERY_BROKER_URL = "redis://localhost:6379/0"
    settings.DM_BRIDGE = dict(PRODUCTION)
    return settings


def ids(messages: list[Any]) -> list[str]:
    return sorted(m.id for m in messages)


def with_setting(settings: Any, **changes: Any) -> list[Any]:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, **changes}
    return check_settings()


def test_good_production_settings_pass(production: Any) -> None:
    assert check_settings() == []


def test_registered_with_django(production: Any) -> None:
    production.DM_BRIDGE = {**PRODUCTION, "API_KEY": ""}
    assert "dm_bridge.E001" in ids(run_checks())


def test_emulator_settings_pass_in_debug(settings: Any) -> None:
    settings.DEBUG = True
    settings.DM_BRIDGE = {
        **PRODUCTION,
        "BASE_URL": "http://127.0.0.1:8765/api/v1",
        "ELEMENTS_URL": "http://127.0.0.1:8765/release/elements.js",
        "TASKS_ENABLED": False,
        "REDIS_URL": "",
    }
    assert check_settings() == []


@pytest.mark.parametrize(
    ("changes", "expected", "level", "hint_mentions"),
    [
        ({"API_KEY": ""}, "dm_bridge.E001", Error, "DM_BRIDGE['API_KEY']"),
        ({"API_KEY": "   "}, "dm_bridge.E001", Error, "apik_"),
        ({"COMPANY_ID": ""}, "dm_bridge.E002", Error, "DM_BRIDGE['COMPANY_ID']"),
        ({"USER_ADAPTER": "nowhere.Adapter"}, "dm_bridge.E003", Error, "DM_BRIDGE['USER_ADAPTER']"),
        (
            {"USER_ADAPTER": "dm_bridge.adapters.Missing"},
            "dm_bridge.E003",
            Error,
            "DefaultUserAdapter",
        ),
        ({"USER_ADAPTER": 42}, "dm_bridge.E003", Error, "dotted path"),
        ({"POLICY": "nowhere.Policy"}, "dm_bridge.E003", Error, "DM_BRIDGE['POLICY']"),
        (
            {"BASE_URL": "http://127.0.0.1:8765/api/v1"},
            "dm_bridge.W001",
            Warning,
            "https://api.whop.com/api/v1",
        ),
        (
            {"BASE_URL": "https://api.whop.com.evil.example/api/v1"},
            "dm_bridge.W001",
            Warning,
            "BASE_URL",
        ),
        ({"BASE_URL": "http://api.whop.com/api/v1"}, "dm_bridge.W001", Warning, "BASE_URL"),
        (
            {"ELEMENTS_URL": "http://127.0.0.1:8765/release/elements.js"},
            "dm_bridge.W002",
            Warning,
            "apollo.elements.whop.com",
        ),
        (
            {"ELEMENTS_URL": "https://notwhop.com/elements.js"},
            "dm_bridge.W002",
            Warning,
            "ELEMENTS_URL",
        ),
        ({"REDIS_URL": ""}, "dm_bridge.W003", Warning, "DM_BRIDGE['REDIS_URL']"),
        (
            {"WEBHOOK_APPLY": "worker", "TASKS_ENABLED": False},
            "dm_bridge.W006",
            Warning,
            "TASKS_ENABLED",
        ),
        ({"WEBHOOK_APPLY": "workers"}, "dm_bridge.E008", Error, "worker"),
        ({"MAX_MEMBERS": 0}, "dm_bridge.E005", Error, "MAX_MEMBERS"),
        ({"MAX_MEMBERS": 51}, "dm_bridge.E005", Error, "1 to 50"),
        ({"MAX_MEMBERS": "50"}, "dm_bridge.E005", Error, "MAX_MEMBERS"),
        ({"TOKEN_LIFETIME": 59}, "dm_bridge.E005", Error, "60 to 3600"),
        ({"TOKEN_LIFETIME": 3601}, "dm_bridge.E005", Error, "TOKEN_LIFETIME"),
        ({"RATE_LIMIT_SAFETY": 0}, "dm_bridge.E005", Error, "greater than 0"),
        ({"RATE_LIMIT_SAFETY": 1.5}, "dm_bridge.E005", Error, "at most 1"),
        ({"RATE_LIMIT_SAFETY": float("nan")}, "dm_bridge.E005", Error, "RATE_LIMIT_SAFETY"),
        ({"RETRY_HORIZON": 0}, "dm_bridge.E005", Error, "greater than 0"),
        ({"RETRY_HORIZON": 31 * 86_400}, "dm_bridge.E005", Error, "at most 30 days"),
        ({"BACKLOG_THRESHOLD": -1}, "dm_bridge.E005", Error, "BACKLOG_THRESHOLD"),
        ({"BACKLOG_THRESHOLD": 2.5}, "dm_bridge.E005", Error, "BACKLOG_THRESHOLD"),
        ({"SWEEP_QUEUE": None}, "dm_bridge.E006", Error, "celery worker -Q"),
        ({"BACKLOG_QUEUE": ["q"]}, "dm_bridge.E006", Error, "BACKLOG_QUEUE"),
    ],
)
def test_each_bad_setting_fires_its_id(
    production: Any, changes: dict[str, Any], expected: str, level: type, hint_mentions: str
) -> None:
    messages = with_setting(production, **changes)
    assert ids(messages) == [expected]
    (message,) = messages
    assert type(message) is level
    assert hint_mentions in message.hint or hint_mentions in message.msg


@pytest.mark.parametrize(
    "changes",
    [
        {"MAX_MEMBERS": 1},
        {"MAX_MEMBERS": 50},
        {"TOKEN_LIFETIME": 60},
        {"TOKEN_LIFETIME": 3600},
        {"RATE_LIMIT_SAFETY": 1},
        {"RATE_LIMIT_SAFETY": 0.5},
        {"RETRY_HORIZON": 2.5},
        {"BACKLOG_THRESHOLD": 0},
        {"SWEEP_QUEUE": "", "BACKLOG_QUEUE": ""},
        {"BASE_URL": "https://sandbox-api.whop.com/api/v1"},
        {"USER_ADAPTER": "dm_bridge.adapters.DefaultUserAdapter"},
    ],
)
def test_edge_values_that_are_fine(production: Any, changes: dict[str, Any]) -> None:
    assert with_setting(production, **changes) == []


def test_missing_broker_is_e004(production: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    production.CELERY_BROKER_URL = ""
    messages = check_settings()
    assert ids(messages) == ["dm_bridge.E004"]
    assert "CELERY_BROKER_URL" in messages[0].hint and "TASKS_ENABLED'] = False" in messages[0].hint
    del production.CELERY_BROKER_URL
    assert ids(check_settings()) == ["dm_bridge.E004"]
    # The broker may come from the environment instead of settings.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://localhost:6379/0")
    assert check_settings() == []


def test_celery_not_installed_is_e004(production: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "celery" else real_find_spec(name, *a),
    )
    messages = check_settings()
    assert ids(messages) == ["dm_bridge.E004"]
    assert "Celery is not installed" in messages[0].msg


def test_task_checks_off_when_work_runs_inline(production: Any) -> None:
    production.CELERY_BROKER_URL = ""
    assert with_setting(production, TASKS_ENABLED=False, REDIS_URL="") == []


def test_url_checks_only_with_debug_off(production: Any) -> None:
    production.DEBUG = True
    assert (
        with_setting(
            production, BASE_URL="http://127.0.0.1:8765/api/v1", ELEMENTS_URL="http://x/e.js"
        )
        == []
    )
    production.DEBUG = False
    assert ids(check_settings()) == ["dm_bridge.W001", "dm_bridge.W002"]


def test_defaults_alone_need_credentials(settings: Any) -> None:
    settings.DEBUG = False
    settings.CELERY_BROKER_URL = "redis://localhost:6379/0"
    settings.DM_BRIDGE = {}
    assert ids(check_settings()) == [
        "dm_bridge.E001",
        "dm_bridge.E002",
        "dm_bridge.W003",
        "dm_bridge.W004",
    ]


def test_silenceable(production: Any) -> None:
    production.DM_BRIDGE = {**PRODUCTION, "REDIS_URL": ""}
    production.SILENCED_SYSTEM_CHECKS = ["dm_bridge.W003"]
    assert "dm_bridge.W003" not in ids([m for m in run_checks() if not m.is_silenced()])


def test_missing_webhook_secret_warns_in_production_only(production: Any) -> None:
    production.DM_BRIDGE = {**PRODUCTION, "WEBHOOK_SECRET": ""}
    assert ids(check_settings()) == ["dm_bridge.W004"]
    production.DM_BRIDGE = {**PRODUCTION, "WEBHOOK_SECRET": ["", "ws_new"]}
    assert ids(check_settings()) == []
    production.DEBUG = True
    production.DM_BRIDGE = {**PRODUCTION, "WEBHOOK_SECRET": ""}
    assert ids(check_settings()) == []


def test_unknown_key_is_an_error_with_the_closest_known_key(production: Any) -> None:
    production.DM_BRIDGE = {**PRODUCTION, "TASK_ENABLED": False}
    (message,) = check_settings()  # only this: the other checks would read a misspelt dict
    assert isinstance(message, Error) and message.id == "dm_bridge.E007"
    assert "unknown key 'TASK_ENABLED'" in message.msg
    assert message.hint == "Did you mean 'TASKS_ENABLED'?"
    production.DM_BRIDGE = {**PRODUCTION, "api_key": "x"}
    assert check_settings()[0].hint == "Did you mean 'API_KEY'?"
    production.DM_BRIDGE = {**PRODUCTION, "FROBNICATE": 1}
    assert "settings reference" in check_settings()[0].hint
    production.DM_BRIDGE = [("API_KEY", "x")]
    assert ids(check_settings()) == ["dm_bridge.E007"]


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("CHAT_STYLE", "slack", "one of 'imessage', 'discord'"),
        ("CHAT_STYLE", "imesage", "Did you mean 'imessage'?"),
        ("ENVIRONMENT", "prod", "Did you mean 'production'?"),
        ("ENVIRONMENT", "development", "one of 'production', 'sandbox'"),
        ("TASKS_ENABLED", "False", "Did you mean False?"),  # the bool, not the string
        ("TASKS_ENABLED", 0, "one of True, False"),
    ],
)
def test_values_outside_their_choices(production: Any, name: str, value: Any, hint: str) -> None:
    (message,) = with_setting(production, **{name: value})
    assert message.id == "dm_bridge.E008"
    assert f"DM_BRIDGE[{name!r}] is {value!r}" in message.msg
    assert hint in message.hint


def test_missing_credentials_hint_at_the_emulator(production: Any) -> None:
    messages = with_setting(production, API_KEY="", COMPANY_ID="")
    hints = {m.id: m.hint for m in messages}
    assert "'apik_emulator_dev'" in hints["dm_bridge.E001"]
    assert "'biz_emulator'" in hints["dm_bridge.E002"]


def test_sweep_interval_schedules_the_sweeper_in_beat(settings: Any) -> None:
    from celery import Celery
    from celery.beat import Scheduler

    from dm_bridge.tasks import schedule_sweeper

    class Beat:  # what celery.beat.Service hands to beat_init receivers
        def __init__(self, beat_schedule: dict[str, Any]) -> None:
            app = Celery(set_as_current=False)
            app.conf.beat_schedule = beat_schedule
            self.scheduler = Scheduler(app, lazy=False)

    settings.DM_BRIDGE = {"SWEEP_INTERVAL": 12}
    beat = Beat({})
    schedule_sweeper(sender=beat)
    entry = beat.scheduler.schedule["dm-bridge-sweep"]
    assert entry.task == "dm_bridge.sweep" and entry.schedule.run_every.total_seconds() == 12

    own = Beat({"mine": {"task": "dm_bridge.sweep", "schedule": 60.0}})
    schedule_sweeper(sender=own)
    assert list(own.scheduler.schedule) == ["mine"]  # the host's own entry wins
