from django.apps import AppConfig


class DmBridgeConfig(AppConfig):
    name = "dm_bridge"
    verbose_name = "Whop DMs (dm_bridge)"
    default_auto_field = "django.db.models.BigAutoField"
