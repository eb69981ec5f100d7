"""api/channels/'s order as an index: a busy member's first page is read in index order and
stops after it, instead of sorting every channel they are in.

PostgreSQL only, and not in the model's state: SQLite cannot index NULLS LAST (its zero-setup
sites are small enough to sort), and SQLite re-creates every index of the state when it
rebuilds a table.
"""

from django.db import migrations, models

RECENT = models.Index(
    models.OrderBy(models.F("last_activity_at"), descending=True, nulls_last=True),
    models.OrderBy(models.F("created_at"), descending=True),
    name="dm_bridge_channel_recent",
)


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("dm_bridge", "DmChannel"), RECENT)


def remove_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("dm_bridge", "DmChannel"), RECENT)


class Migration(migrations.Migration):
    dependencies = [
        ("dm_bridge", "0011_webhook_apply_in_worker"),
    ]

    operations = [migrations.RunPython(add_index, remove_index)]
