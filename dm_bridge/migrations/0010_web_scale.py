"""13b: partial indexes for the inbox and the unread badge at scale.

A seller with thousands of conversations has thousands of memberships; the inbox reads only
the archived ones and the badge only those with unread messages. Plain SQL (PostgreSQL and
SQLite both have partial indexes) with no model state: they are a storage detail, not fields
or Meta options a host's migrations should know about.
"""

from django.db import migrations

INDEXES = {
    "dm_bridge_member_archived": "archived",
    "dm_bridge_member_unread": "unread_count > 0",
}


class Migration(migrations.Migration):
    dependencies = [("dm_bridge", "0009_contact_and_response_time")]

    operations: list[migrations.operations.base.Operation] = [
        migrations.RunSQL(
            f"CREATE INDEX {name} ON dm_bridge_dmmember (user_id) WHERE {condition}",
            reverse_sql=f"DROP INDEX {name}",
        )
        for name, condition in INDEXES.items()
    ]
