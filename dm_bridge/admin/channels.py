"""Channels, their members and outbox messages: status, Whop IDs, and the repairs
("Retry now", "Reconcile with Whop", "Delete channel (here and on Whop)").
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from .. import services
from ..exceptions import ChannelDeletedError, DmBridgeError
from ..models import (
    DmChannel,
    DmMember,
    DmOutboxMessage,
)
from .base import (
    WORK_FIELDS,
    ReadOnlyInline,
    WorkRowAdmin,
    channels_of,
)


class DmMemberInline(ReadOnlyInline):
    model = DmMember
    fk_name = "channel"
    show_change_link = True
    fields = (
        "user",
        "status_badge",
        "whop_member_id",
        "added_at",
        "removed_at",
        "unread_count",
        "muted",
        "archived",
        "attempts",
        "failures",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("created_at",)
    verbose_name_plural = "members (changed only through dm_bridge.services)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DmMember]:
        return super().get_queryset(request).select_related("user")


class DmOutboxMessageInline(ReadOnlyInline):
    model = DmOutboxMessage
    fk_name = "channel"
    show_change_link = True
    fields = (
        "dedupe_key",
        "short_content",
        "status_badge",
        "whop_message_id",
        "sent_at",
        "attempts",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("created_at",)
    verbose_name_plural = "outbox (messages the app posts into the channel)"

    @admin.display(description="content")
    def short_content(self, obj: DmOutboxMessage) -> str:
        return Truncator(obj.content).chars(80)


# What Whop holds for a channel: shown in its own fieldset, never edited here.
ON_WHOP = (
    "whop_channel_id",
    "whop_name",
    "needs_reconcile",
    "activated_at",
    "last_message_at",
    "deleted_at",
    "deleted_on_whop",
)


@admin.register(DmChannel)
class DmChannelAdmin(WorkRowAdmin):
    list_display = (
        "key",
        "custom_name",
        "status_badge",
        "whop_channel_id",
        "attempts",
        "failures",
        "waiting_for_whop",
        "short_error",
        "next_attempt_at",
        "host_link",
        "created_at",
    )
    list_filter = ("status", "company_id", "needs_reconcile", "created_at")
    list_select_related = ("host_content_type",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (DmMemberInline, DmOutboxMessageInline)
    actions = ("retry_now", "reconcile_with_whop", "delete_here_and_on_whop")
    delete_confirmation_template = "admin/dm_bridge/dmchannel/delete_confirmation.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "key",
                    "company_id",
                    "custom_name",
                    "status_badge",
                    "host_link",
                    "requester",
                )
            },
        ),
        (
            "On Whop",
            {"fields": ON_WHOP},
        ),
        ("Work (retries and leases)", {"fields": WORK_FIELDS}),
    )
    readonly_fields = (
        "key",
        "company_id",
        "status_badge",
        "host_link",
        "requester",
        *ON_WHOP,
        *WORK_FIELDS,
    )

    search_fields = (
        "key",
        "whop_channel_id",
        "custom_name",
        "members__whop_member_id",
        "members__user__whop_link__whop_user_id",
        "members__user__whop_link__whop_username",
    )
    user_search_prefix = "members__user__"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status == DmChannel.Status.DELETED:
            fields.append("custom_name")
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only the custom name is editable, and saving it goes through services.rename_channel.
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting means "here and on Whop" (see delete_view); plain row deletion never happens.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would drop rows and leave the DMs on Whop
        return actions

    @admin.display(description="host")
    def host_link(self, obj: DmChannel) -> str:
        content_type = obj.host_content_type  # None without a query when the ID is null
        if content_type is None or not obj.host_object_id:
            return "–"
        label = f"{content_type.name} #{obj.host_object_id}"
        try:
            url = reverse(
                f"{self.admin_site.name}:{content_type.app_label}_{content_type.model}_change",
                args=[obj.host_object_id],
            )
        except NoReverseMatch:  # the host model is not in this admin site
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    def save_model(self, request: HttpRequest, obj: DmChannel, form: Any, change: bool) -> None:
        if "custom_name" not in form.changed_data:
            return
        try:
            services.rename_channel(obj, obj.custom_name)
        except DmBridgeError as exc:
            self.message_user(request, services.describe_error(exc), messages.ERROR)
        else:
            self.message_user(request, "The new name is applied on Whop by a worker.")

    # --- actions --------------------------------------------------------------------------

    @admin.action(description="Retry now", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[DmChannel]) -> None:
        self.retry_rows(request, queryset.order_by("pk"))

    @admin.action(description="Reconcile with Whop", permissions=["change"])
    def reconcile_with_whop(self, request: HttpRequest, queryset: QuerySet[DmChannel]) -> None:
        for channel in queryset.order_by("pk"):
            try:
                report = services.reconcile_channel(channel)
            except DmBridgeError as exc:  # RowBusy, WhopError, configuration
                self.message_user(
                    request, f"{channel}: {services.describe_error(exc)}", messages.WARNING
                )
                continue
            self.log_change(request, channel, f"Reconciled with Whop: {report}")
            self.message_user(request, f"{channel}: {report}", messages.INFO)

    @admin.action(description="Delete channel (here and on Whop)", permissions=["delete"])
    def delete_here_and_on_whop(
        self, request: HttpRequest, queryset: QuerySet[DmChannel]
    ) -> HttpResponse | None:
        return self.confirm_delete(request, queryset.order_by("pk"), from_action=True)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            # Django's own "no such object" redirect: a private helper the stubs leave out.
            not_found = self._get_obj_does_not_exist_redirect  # type: ignore[attr-defined]
            redirect: HttpResponse = not_found(request, self.opts, object_id)
            return redirect
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        response = self.confirm_delete(
            request, self.get_queryset(request).filter(pk=obj.pk), from_action=False
        )
        if response is None:
            changelist = reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist"
            )
            return HttpResponseRedirect(changelist)
        return response

    def delete_model(self, request: HttpRequest, obj: DmChannel) -> None:
        services.delete_channel(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DmChannel]) -> None:
        for channel in queryset:
            services.delete_channel(channel)

    def confirm_delete(
        self, request: HttpRequest, queryset: QuerySet[DmChannel], *, from_action: bool
    ) -> HttpResponse | None:
        """The confirmation page; on its POST, ``services.delete_channel`` for each channel.

        Returns None once done (the action then shows the changelist again).
        """
        channels = list(queryset)
        if request.method == "POST" and request.POST.get("post") == "yes":
            deleted = 0
            for channel in channels:
                try:
                    services.delete_channel(channel)
                except ChannelDeletedError:
                    self.message_user(request, f"{channel} was already deleted.", messages.INFO)
                    continue
                except DmBridgeError as exc:
                    self.message_user(
                        request, f"{channel}: {services.describe_error(exc)}", messages.WARNING
                    )
                    continue
                self.log_change(request, channel, "Deleted here and on Whop.")
                deleted += 1
            if deleted:
                self.message_user(
                    request,
                    f"Deleted {deleted} DM {'channel' if deleted == 1 else 'channels'}; "
                    "a worker removes them on Whop, with all their messages.",
                    messages.SUCCESS,
                )
            return None
        live = [c for c in channels if c.status != DmChannel.Status.DELETED]
        already = [c for c in channels if c.status == DmChannel.Status.DELETED]
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete DM channels here and on Whop?",
            "subtitle": None,
            "opts": self.opts,
            "channels": live,
            "already_deleted": already,
            "from_action": from_action,
            "action_name": "delete_here_and_on_whop",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "queryset": queryset,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.delete_confirmation_template, context)


@admin.register(DmMember)
class DmMemberAdmin(WorkRowAdmin):
    list_display = (
        "user",
        "channel",
        "status_badge",
        "whop_member_id",
        "added_at",
        "removed_at",
        "failures",
        "short_error",
    )
    list_filter = ("status", "muted", "archived", "added_at")
    list_select_related = ("user", "channel")
    ordering = ("-created_at",)
    actions = ("retry_channel",)
    fields = (
        "channel",
        "user",
        "status_badge",
        "whop_member_id",
        "added_at",
        "removed_at",
        "last_read_at",
        "unread_count",
        "muted",
        "whop_notification_preference",
        "archived",
        "archived_at",
        "whop_member_status",
        *WORK_FIELDS,
    )
    readonly_fields = fields
    search_fields = ("whop_member_id", "channel__key", "channel__whop_channel_id")
    user_search_prefix = "user__"

    @admin.action(description="Retry their channels now", permissions=["retry"])
    def retry_channel(self, request: HttpRequest, queryset: QuerySet[DmMember]) -> None:
        self.retry_rows(request, channels_of(queryset))


@admin.register(DmOutboxMessage)
class DmOutboxMessageAdmin(WorkRowAdmin):
    list_display = (
        "dedupe_key",
        "channel",
        "status_badge",
        "whop_message_id",
        "sent_at",
        "attempts",
        "failures",
        "short_error",
        "created_at",
    )
    list_filter = ("status", "sent_at", "created_at")
    list_select_related = ("channel",)
    search_fields = (
        "dedupe_key",
        "content",
        "whop_message_id",
        "channel__key",
        "channel__whop_channel_id",
    )
    ordering = ("-created_at",)
    actions = ("retry_channel",)
    fields = (
        "channel",
        "dedupe_key",
        "content",
        "status_badge",
        "whop_message_id",
        "sent_at",
        *WORK_FIELDS,
    )
    readonly_fields = fields

    @admin.action(description="Retry their channels now", permissions=["retry"])
    def retry_channel(self, request: HttpRequest, queryset: QuerySet[DmOutboxMessage]) -> None:
        self.retry_rows(request, channels_of(queryset))
