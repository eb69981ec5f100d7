from django.apps import AppConfig


class DmBridgeConfig(AppConfig):
    name = "dm_bridge"
    verbose_name = "Whop DMs (dm_bridge)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from . import signals  # noqa: F401 - declares the signals before any receiver connects
        from .checks import check_settings

        checks.register(check_settings)
