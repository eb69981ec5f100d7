"""Email reminders: what was sent to whom for which messages, the delivery result, retry;
and each user's reminder preference.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import services
from ..models import (
    Reminder,
    ReminderPreference,
    UnreadMessage,
)
from .base import (
    WORK_FIELDS,
    ReadOnlyInline,
    WorkRowAdmin,
    user_search_fields,
)


class UnreadMessageInline(ReadOnlyInline):
    model = UnreadMessage
    fk_name = "reminder"
    fields = ("whop_message_id", "author_name", "preview", "sent_at", "received_at")
    readonly_fields = fields
    verbose_name_plural = "messages it covers"


@admin.register(Reminder)
class ReminderAdmin(WorkRowAdmin):
    """Reminder emails: to whom, about which conversation and messages, when, what happened."""

    list_display = (
        "user",
        "conversation",
        "kind",
        "status_badge",
        "message_count",
        "recipient",
        "sent_at",
        "attempts",
        "short_error",
        "created_at",
    )
    list_filter = ("status", "kind", "created_at")
    list_select_related = ("user", "member__channel")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (UnreadMessageInline,)
    actions = ("retry_now",)
    fields = (
        "user",
        "conversation",
        "kind",
        "batch_key",
        "status_badge",
        "recipient",
        "subject",
        "message_id",
        "message_count",
        "sent_at",
        "delivery",
        *WORK_FIELDS,
    )
    readonly_fields = fields

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [*user_search_fields("user__"), "recipient", "message_id", "batch_key"]

    @admin.display(description="conversation")
    def conversation(self, obj: Reminder) -> str:
        return str(obj.member.channel) if obj.member_id and obj.member else "(digest)"

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Reminder]) -> None:
        retried = 0
        for reminder in queryset.order_by("pk"):
            if reminder.status == Reminder.Status.SENT:
                self.message_user(request, f"{reminder}: already sent.", messages.INFO)
                continue
            services.retry_reminder(reminder)
            self.log_change(request, reminder, "Retried from the admin.")
            retried += 1
        if retried:
            self.message_user(request, f"Retried {retried} reminder(s).", messages.SUCCESS)


@admin.register(ReminderPreference)
class ReminderPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "frequency", "updated_at")
    list_filter = ("frequency",)
    list_select_related = ("user",)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return user_search_fields("user__")
