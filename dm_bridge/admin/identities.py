"""Whop user links: which local user is which Whop user, and why provisioning failed."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import WhopUserLink
from .base import (
    WORK_FIELDS,
    WorkRowAdmin,
)


@admin.register(WhopUserLink)
class WhopUserLinkAdmin(WorkRowAdmin):
    list_display = (
        "user",
        "whop_user_id",
        "whop_username",
        "connected_account_id",
        "status_badge",
        "attempts",
        "failures",
        "waiting_for_whop",
        "short_error",
        "linked_at",
    )
    list_filter = ("status", "linked_at", "created_at")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    actions = ("retry_now",)
    fields = (
        "user",
        "status_badge",
        "whop_user_id",
        "whop_username",
        "connected_account_id",
        "linked_at",
        *WORK_FIELDS,
    )
    readonly_fields = fields
    search_fields = ("whop_user_id", "whop_username", "connected_account_id")
    user_search_prefix = "user__"

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WhopUserLink]) -> None:
        linked = queryset.filter(status=WhopUserLink.Status.ACTIVE).exclude(whop_user_id=None)
        if count := linked.count():
            self.message_user(
                request,
                f"{count} already linked to Whop; nothing to retry for them.",
                messages.INFO,
            )
        self.retry_rows(request, queryset.exclude(pk__in=linked.values("pk")).order_by("pk"))
