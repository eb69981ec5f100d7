"""The marketplace's domain: shops (an owner and staff), their listings, and one conversation
per buyer × shop, whose DM lives in dm_bridge."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.text import slugify

from dm_bridge.models import DmChannel


class Shop(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=90, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_shops"
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ShopStaff", related_name="staffed_shops", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            base = slugify(self.name)[:80] or "shop"
            slug, n = base, 2
            while Shop.objects.filter(slug=slug).exclude(pk=self.pk).exists():
                slug, n = f"{base}-{n}", n + 1
            self.slug = slug
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("shop-detail", args=[self.slug])

    def team(self) -> list:
        """Everyone who answers the shop's messages: the owner first, then staff."""
        return [self.owner, *self.staff.order_by("shopstaff__added_at")]

    def is_team_member(self, user) -> bool:
        if not user.is_authenticated:
            return False
        return self.owner_id == user.pk or self.staff.filter(pk=user.pk).exists()


class ShopStaff(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "shop staff member"
        constraints = [models.UniqueConstraint(fields=["shop", "user"], name="shop_staff_once")]

    def __str__(self) -> str:
        return f"{self.user} at {self.shop}"


class Listing(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "For sale"
        SOLD = "sold", "Sold"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="listings")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("listing-detail", args=[self.pk])


class Conversation(models.Model):
    """A buyer talking to a shop's team. One per buyer × shop; its DM is a dm_bridge channel."""

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="conversations")
    channel = models.OneToOneField(
        DmChannel,
        on_delete=models.PROTECT,
        related_name="conversation",
        help_text="The dm_bridge channel (it holds the Whop channel ID).",
    )
    listing = models.ForeignKey(
        Listing,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The listing asked about most recently (shown beside the chat).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "shop"], name="one_conversation_per_buyer_shop"
            )
        ]

    def __str__(self) -> str:
        return f"{self.buyer} ↔ {self.shop}"

    def get_absolute_url(self) -> str:
        return reverse("conversation-detail", args=[self.pk])

    @staticmethod
    def key_for(shop: Shop, buyer) -> str:
        return f"shop:{shop.pk}/buyer:{buyer.pk}"
