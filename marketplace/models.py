"""The marketplace's domain: shops (an owner and staff), their listings, and one conversation
per buyer × shop, whose DM lives in dm_bridge."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from dm_bridge.models import DmChannel

from .shop_names import name_skeleton, normalize_name

# The site must own this mailbox's domain: Whop gives a connected account for an address that
# already belongs to a Whop user to *that* user (see README, "Shop identities").
DEFAULT_SHOP_IDENTITY_EMAIL = "shop+{id}@shops.marketplace.invalid"
SLUG_ATTEMPTS = 20


class ShopNameTaken(ValueError):
    """Another shop's name looks the same (found at insert time, after a concurrent create)."""

    message = (
        "A shop with this name, or one that looks the same, already exists. Choose another name."
    )


def shop_identity_email(shop_pk: int) -> str:
    template = getattr(settings, "MARKETPLACE_SHOP_IDENTITY_EMAIL", DEFAULT_SHOP_IDENTITY_EMAIL)
    return template.format(id=shop_pk)


def shop_identity_username(shop_pk: int) -> str:
    # ':' is outside Django's username characters, so no sign-up can ever take this name.
    return f"shop:{shop_pk}"


class Shop(models.Model):
    name = models.CharField(max_length=80)
    name_skeleton = models.CharField(
        max_length=1000,
        unique=True,
        editable=False,
        help_text="What the name looks like (casefolded, confusables mapped): unique.",
    )
    slug = models.SlugField(max_length=90, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_shops"
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ShopStaff", related_name="staffed_shops", blank=True
    )
    identity = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="shop_identity",
        help_text="The shop's own chat identity (no login): a member of every DM of the shop, "
        "so no two shops' DMs ever have the same member set on Whop.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, allocating a free slug on insert; raises ``ShopNameTaken`` for a look-alike name."""
        self.name = normalize_name(self.name)
        self.name_skeleton = name_skeleton(self.name)[:1000]
        creating = self._state.adding
        with transaction.atomic():
            if self.slug:
                self._insert_or_update(*args, **kwargs)
            else:
                self._save_with_free_slug(*args, **kwargs)
            if creating:
                self.ensure_identity()

    def get_absolute_url(self) -> str:
        return reverse("shop-detail", args=[self.slug])

    def clean(self) -> None:
        self.name = normalize_name(self.name)
        if not self.name:
            raise ValidationError({"name": "Give the shop a name with visible letters."})
        if self._skeleton_taken():
            raise ValidationError({"name": ShopNameTaken.message})

    def _save_with_free_slug(self, *args: Any, **kwargs: Any) -> None:
        base = slugify(self.name)[:80] or "shop"
        for _ in range(SLUG_ATTEMPTS):
            self.slug = self._free_slug(base)
            try:
                self._insert_or_update(*args, **kwargs)
                return
            except IntegrityError:
                # Another shop took the slug between the check and the insert: try the next one.
                if not Shop.objects.filter(slug=self.slug).exclude(pk=self.pk).exists():
                    raise
                self.slug = ""
        raise IntegrityError(f"no free slug for {base!r} after {SLUG_ATTEMPTS} attempts")

    def _insert_or_update(self, *args: Any, **kwargs: Any) -> None:
        try:
            with transaction.atomic():  # a savepoint: a failed insert leaves the transaction usable
                super().save(*args, **kwargs)
        except IntegrityError:
            if self._skeleton_taken():
                raise ShopNameTaken(ShopNameTaken.message) from None
            raise

    def _free_slug(self, base: str) -> str:
        slug, n = base, 2
        while Shop.objects.filter(slug=slug).exclude(pk=self.pk).exists():
            slug, n = f"{base}-{n}", n + 1
        return slug

    def _skeleton_taken(self) -> bool:
        return (
            Shop.objects.filter(name_skeleton=name_skeleton(self.name)[:1000])
            .exclude(pk=self.pk)
            .exists()
        )

    def ensure_identity(self) -> Any:
        """The shop's chat identity, created if missing: an inactive user with no usable
        password and an address the site owns (``MARKETPLACE_SHOP_IDENTITY_EMAIL``)."""
        if self.identity_id:
            return self.identity
        User = get_user_model()
        with transaction.atomic():
            user, _ = User.objects.get_or_create(
                **{User.USERNAME_FIELD: shop_identity_username(self.pk)},
                defaults={
                    "email": shop_identity_email(self.pk),
                    "is_active": False,
                    "password": make_password(None),
                },
            )
            Shop.objects.filter(pk=self.pk, identity__isnull=True).update(identity=user)
        self.identity = user
        return user

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


class StaffInvitation(models.Model):
    """An owner's invitation to join a shop's staff. Nobody joins without accepting.

    By username: ``invitee`` is that account (None if there is none: the row stays inert, so
    the owner's page looks the same either way). By email: a link with the token goes to the
    address, and whoever opens it signed in may accept (holding the link proves the mailbox).
    Only a hash of the token is stored.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Revoked"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="invitations")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    recipient = models.CharField(max_length=254, help_text="The username or email, as typed.")
    email = models.EmailField(blank=True, help_text="Email invitations: where the link went.")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="staff_invitations",
        help_text="Who may accept (username invitations) or who accepted.",
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.recipient} invited to {self.shop}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > timezone.now()


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
        # The inbox's window (newest first, keyset on updated_at + pk): read in index order
        # and stopped after one page, instead of sorting every conversation of a busy shop.
        indexes = [models.Index(fields=["-updated_at", "-id"], name="conversation_recent")]

    def __str__(self) -> str:
        return f"{self.buyer} ↔ {self.shop}"

    def get_absolute_url(self) -> str:
        return reverse("conversation-detail", args=[self.pk])

    @staticmethod
    def key_for(shop: Shop, buyer) -> str:
        return f"shop:{shop.pk}/buyer:{buyer.pk}"
