"""The moderation settings are known to dm_bridge's system checks."""

from __future__ import annotations

from dm_bridge.checks import check_settings


def test_a_moderation_adapter_that_cannot_be_imported_is_e003(settings):
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "MODERATION_ADAPTER": "nowhere.Adapter"}
    errors = [m for m in check_settings() if m.id == "dm_bridge.E003"]
    assert len(errors) == 1 and "MODERATION_ADAPTER" in errors[0].msg


def test_the_moderation_settings_are_not_unknown_keys(settings):
    settings.DM_BRIDGE = {
        **settings.DM_BRIDGE,
        "MODERATION_RATE_LIMIT": "5/hour",
        "MODERATION_CONTEXT_MESSAGES": 3,
        "MODERATION_WARNING_MESSAGE": "Be nice.",
    }
    assert [m for m in check_settings() if m.id == "dm_bridge.E007"] == []
