"""14b: a member's own inbox preferences per conversation (mute, archive) and what Whop has."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("dm_bridge", "0005_retry_horizon_and_requester")]

    operations = [
        migrations.AddField(
            model_name="dmmember",
            name="archived",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Out of the member's inbox until a new message arrives (Whop: status archived)."
                ),
            ),
        ),
        migrations.AddField(
            model_name="dmmember",
            name="archived_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When archived: only a message sent later un-archives.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="dmmember",
            name="muted",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "The member muted this conversation: no reminders (Whop: notifications none)."
                ),
            ),
        ),
        migrations.AddField(
            model_name="dmmember",
            name="whop_member_status",
            field=models.CharField(
                blank=True,
                help_text="What Whop last reported (requested/accepted/hidden/closed/archived).",
                max_length=16,
                verbose_name="Whop member status",
            ),
        ),
        migrations.AddField(
            model_name="dmmember",
            name="whop_notification_preference",
            field=models.CharField(
                blank=True, help_text="What Whop last reported (all/mentions/none).", max_length=16
            ),
        ),
    ]
