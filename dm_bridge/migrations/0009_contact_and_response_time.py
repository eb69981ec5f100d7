"""15b: contact-info detection, response-time badge."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("dm_bridge", "0008_moderation"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConversationResponse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("responder_id", models.CharField(max_length=64)),
                ("asked_at", models.DateTimeField(help_text="The asker's first message.")),
                (
                    "replied_at",
                    models.DateTimeField(
                        blank=True, help_text="The responder's first message after it.", null=True
                    ),
                ),
                ("reply_seconds", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "channel",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="response_time",
                        to="dm_bridge.dmchannel",
                    ),
                ),
                (
                    "responder_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),
            ],
            options={
                "verbose_name": "conversation response time",
                "indexes": [
                    models.Index(
                        fields=["responder_type", "responder_id", "asked_at"],
                        name="dm_bridge_response_window",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ResponseSummary",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("responder_id", models.CharField(max_length=64)),
                (
                    "conversations",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Conversations in the window that count (answered or 24 h old).",
                    ),
                ),
                ("answered", models.PositiveIntegerField(default=0)),
                ("answered_within_day", models.PositiveIntegerField(default=0)),
                ("median_reply_seconds", models.PositiveIntegerField(blank=True, null=True)),
                ("computed_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "responder_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),
            ],
            options={
                "verbose_name": "response-time summary",
                "verbose_name_plural": "response-time summaries",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("responder_type", "responder_id"),
                        name="dm_bridge_response_summary_once",
                    )
                ],
            },
        ),
    ]
