"""Shops get a chat identity, a unique name skeleton; staff join through invitations.

Existing names are normalised and their skeletons stored. Shops whose names already look alike
keep their names (an admin decides which one renames) but get a marked skeleton so the unique
constraint holds; no new look-alike can be created. Identities for existing shops are created
on first use (``Shop.ensure_identity``); ``manage.py marketplace_separate_shop_dms`` adds them
to existing DMs and gives conversations that shared one Whop DM their own.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from marketplace.shop_names import name_skeleton, normalize_name


def fill_skeletons(apps, schema_editor):
    Shop = apps.get_model("marketplace", "Shop")
    seen: set[str] = set()
    for shop in Shop.objects.order_by("pk"):
        shop.name = normalize_name(shop.name) or f"Shop {shop.pk}"
        skeleton = name_skeleton(shop.name)[:1000]
        # A newline never survives normalisation, so a marked skeleton matches no real name.
        shop.name_skeleton = skeleton if skeleton not in seen else f"{skeleton[:980]}\n{shop.pk}"
        seen.add(skeleton)
        shop.save(update_fields=["name", "name_skeleton"])


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="shop",
            name="name_skeleton",
            field=models.CharField(default="", editable=False, max_length=1000),
            preserve_default=False,
        ),
        migrations.RunPython(fill_skeletons, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="shop",
            name="name_skeleton",
            field=models.CharField(
                editable=False,
                help_text="What the name looks like (casefolded, confusables mapped): unique.",
                max_length=1000,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="shop",
            name="identity",
            field=models.OneToOneField(
                editable=False,
                help_text="The shop's own chat identity (no login): a member of every DM of the shop, so no two shops' DMs ever have the same member set on Whop.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="shop_identity",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.CreateModel(
            name="StaffInvitation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("recipient", models.CharField(help_text="The username or email, as typed.", max_length=254)),
                ("email", models.EmailField(blank=True, help_text="Email invitations: where the link went.", max_length=254)),
                ("token_hash", models.CharField(editable=False, max_length=64, unique=True)),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("accepted", "Accepted"), ("declined", "Declined"), ("revoked", "Revoked")],
                        db_index=True,
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("responded_at", models.DateTimeField(blank=True, null=True)),
                ("invited_by", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
                (
                    "invitee",
                    models.ForeignKey(
                        blank=True,
                        help_text="Who may accept (username invitations) or who accepted.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="staff_invitations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("shop", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="invitations", to="marketplace.shop")),
            ],
            options={"ordering": ["-created_at"]},
        ),
    ]
