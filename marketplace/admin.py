from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import Conversation, Listing, Shop, ShopStaff, StaffInvitation


class ShopStaffInline(admin.TabularInline):
    model = ShopStaff
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "staff_count", "created_at"]
    search_fields = ["name", "slug", "owner__username"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner"]
    readonly_fields = ["identity"]
    inlines = [ShopStaffInline]

    @admin.display(description="staff")
    def staff_count(self, shop: Shop) -> int:
        return shop.staff.count()

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # Staff edited here must reach the shop's DMs too, as on the staff page.
        synced = services.sync_shop_members(form.instance)
        if synced:
            self.message_user(
                request, f"Members of {synced} conversation(s) brought in line with the team."
            )


@admin.register(StaffInvitation)
class StaffInvitationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "shop", "invited_by", "status", "invitee", "expires_at"]
    list_filter = ["status"]
    search_fields = ["recipient", "shop__name", "invitee__username"]
    list_select_related = ["shop", "invited_by", "invitee"]
    readonly_fields = [f.name for f in StaffInvitation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # owners invite from the shop's staff page (the token is shown only once)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["title", "shop", "price", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "shop__name"]
    list_select_related = ["shop"]
    autocomplete_fields = ["shop"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "listing", "dm_status", "dm_channel", "updated_at"]
    list_filter = ["channel__status"]
    search_fields = ["buyer__username", "shop__name", "channel__whop_channel_id", "channel__key"]
    list_select_related = ["buyer", "shop", "listing", "channel"]
    readonly_fields = [
        "buyer",
        "shop",
        "channel",
        "dm_channel",
        "listing",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # conversations start from "Message seller", which opens their DM

    @admin.display(description="DM status", ordering="channel__status")
    def dm_status(self, conversation: Conversation) -> str:
        return conversation.channel.get_status_display()

    @admin.display(description="dm_bridge channel")
    def dm_channel(self, conversation: Conversation) -> str:
        channel = conversation.channel
        url = reverse("admin:dm_bridge_dmchannel_change", args=[channel.pk])
        return format_html(
            '<a href="{}">{}</a>', url, channel.whop_channel_id or f"#{channel.pk} (pending)"
        )
