"""14a: email reminders (preferences, reminder rows, unread messages awaiting a reminder)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dm_bridge", "0006_member_preferences"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Reminder",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "attempts",
                    models.PositiveIntegerField(
                        default=0, help_text="Whop write attempts made so far (all time)."
                    ),
                ),
                (
                    "failures",
                    models.PositiveIntegerField(
                        default=0, help_text="Failures in a row; reset on success."
                    ),
                ),
                (
                    "waiting_since",
                    models.DateTimeField(
                        blank=True,
                        help_text="First failure of the current streak; cleared on success. Whop being unavailable is retried until DM_BRIDGE['RETRY_HORIZON'] after this.",
                        null=True,
                        verbose_name="waiting for Whop since",
                    ),
                ),
                (
                    "last_error",
                    models.TextField(
                        blank=True, help_text="Why the last attempt failed, in plain words."
                    ),
                ),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                (
                    "next_attempt_at",
                    models.DateTimeField(
                        blank=True,
                        db_index=True,
                        help_text="When the sweeper picks this row up next; empty when done.",
                        null=True,
                    ),
                ),
                (
                    "lease_until",
                    models.DateTimeField(
                        blank=True, help_text="A worker holds this row until then.", null=True
                    ),
                ),
                ("lease_token", models.CharField(blank=True, max_length=32)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[("batch", "One conversation"), ("digest", "Daily digest")],
                        default="batch",
                        max_length=8,
                    ),
                ),
                (
                    "batch_key",
                    models.CharField(
                        help_text="The batch this reminder covers (one row each).",
                        max_length=120,
                        unique=True,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("skipped", "Not needed"),
                            ("failed", "Failed"),
                        ],
                        db_index=True,
                        default="pending",
                        max_length=16,
                    ),
                ),
                (
                    "recipient",
                    models.EmailField(
                        blank=True, help_text="The address it was sent to.", max_length=254
                    ),
                ),
                ("subject", models.CharField(blank=True, max_length=255)),
                (
                    "message_id",
                    models.CharField(
                        blank=True,
                        help_text="The same on every attempt.",
                        max_length=200,
                        verbose_name="Message-ID",
                    ),
                ),
                ("message_count", models.PositiveIntegerField(default=0)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "delivery",
                    models.TextField(
                        blank=True, help_text="What the mail server said, or why not sent."
                    ),
                ),
                (
                    "member",
                    models.ForeignKey(
                        blank=True,
                        help_text="The membership reminded about (empty for a digest).",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reminders",
                        to="dm_bridge.dmmember",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="dm_reminders",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "DM reminder", "ordering": ["-created_at"]},
        ),
        migrations.CreateModel(
            name="ReminderPreference",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "frequency",
                    models.CharField(
                        choices=[
                            ("batch", "Each batch of unread messages"),
                            ("daily", "A daily digest"),
                            ("off", "Never"),
                        ],
                        max_length=8,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="dm_reminder_preference",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "reminder preference"},
        ),
        migrations.CreateModel(
            name="UnreadMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "whop_message_id",
                    models.CharField(max_length=64, verbose_name="Whop message ID"),
                ),
                ("author_name", models.CharField(blank=True, max_length=150)),
                (
                    "by_member",
                    models.BooleanField(
                        default=True,
                        help_text="Written by a person here, not by the app (its notes alone send no email).",
                    ),
                ),
                (
                    "preview",
                    models.CharField(
                        blank=True,
                        help_text="Start of the message (empty with previews off).",
                        max_length=200,
                    ),
                ),
                ("sent_at", models.DateTimeField(help_text="When Whop says it was posted.")),
                ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "member",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="unread_messages",
                        to="dm_bridge.dmmember",
                    ),
                ),
                (
                    "reminder",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="messages",
                        to="dm_bridge.reminder",
                    ),
                ),
            ],
            options={"verbose_name": "unread message", "ordering": ["sent_at"]},
        ),
        migrations.AddIndex(
            model_name="reminder",
            index=models.Index(fields=["status", "next_attempt_at"], name="dm_bridge_reminder_due"),
        ),
        migrations.AddIndex(
            model_name="reminder",
            index=models.Index(fields=["member", "created_at"], name="dm_bridge_reminder_window"),
        ),
        migrations.AddIndex(
            model_name="unreadmessage",
            index=models.Index(
                fields=["reminder", "received_at"], name="dm_bridge_unread_unbatched"
            ),
        ),
        migrations.AddConstraint(
            model_name="unreadmessage",
            constraint=models.UniqueConstraint(
                fields=("member", "whop_message_id"), name="dm_bridge_unread_message_once"
            ),
        ),
    ]
