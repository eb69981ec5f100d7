"""Django admin for operators: see what dm_bridge did with Whop, and repair it.

Every repair goes through :mod:`dm_bridge.services` ("Retry now", "Reconcile with Whop",
"Delete channel (here and on Whop)"); nothing here writes Whop state or calls Whop itself.
Channels, links, members and messages are created by services, so none can be added here,
and the rows workers maintain are read-only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince

from . import services
from .exceptions import ChannelDeletedError, DmBridgeError
from .models import DmChannel, DmMember, DmOutboxMessage, WebhookEvent, WhopUserLink
from .webhooks import UNKNOWN_CHANNEL, process_event

STATUS_COLORS = {
    "pending": "#8a6d00",
    "active": "#1e7e34",
    "sent": "#1e7e34",
    "failed": "#b02a37",
    "deleted": "#6c757d",
    "removing": "#8a6d00",
    "removed": "#6c757d",
}

WORK_FIELDS = (
    "attempts",
    "failures",
    "waiting_since",
    "last_error",
    "last_error_at",
    "next_attempt_at",
    "lease_until",
    "lease_token",
    "created_at",
    "updated_at",
)


def status_badge(row: Any) -> str:
    color = STATUS_COLORS.get(row.status, "#6c757d")
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 7px;border-radius:8px;'
        'font-size:11px;white-space:nowrap">{}</span>',
        color,
        row.get_status_display(),
    )


def short_error(row: Any) -> str:
    if not row.last_error:
        return "–"
    return format_html(
        '<span title="{}">{}</span>', row.last_error, Truncator(row.last_error).chars(70)
    )


def user_search_fields(prefix: str) -> list[str]:
    """Search lookups for the host's user model (its username and email fields, if any)."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD]
    email_field = user_model.get_email_field_name()
    if any(f.name == email_field for f in user_model._meta.get_fields()):
        names.append(email_field)
    return [f"{prefix}{name}" for name in names]


class WorkRowAdmin(admin.ModelAdmin):
    """Shared behaviour for rows workers maintain: read-only, retried only through services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Retrying changes the row, so it needs the model's real "change" permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Any) -> str:
        return status_badge(obj)

    @admin.display(description="last error")
    def short_error(self, obj: Any) -> str:
        return short_error(obj)

    @admin.display(description="waiting for Whop", ordering="waiting_since")
    def waiting_for_whop(self, obj: Any) -> str:
        if obj.waiting_since is None:
            return "–"
        since = timezone.localtime(obj.waiting_since)
        return f"since {since:%Y-%m-%d %H:%M} ({timesince(since)})"

    def retry_rows(self, request: HttpRequest, rows: Iterable[DmChannel | WhopUserLink]) -> None:
        """``services.retry`` for each row, then one message saying where each one stands."""
        retried: list[DmChannel | WhopUserLink] = []
        for row in rows:
            try:
                services.retry(row)
            except DmBridgeError as exc:
                self.message_user(
                    request, f"{row}: {services.describe_error(exc)}", messages.WARNING
                )
                continue
            self.log_change(request, row, "Retried from the admin.")
            retried.append(row)
        if not retried:
            return
        # With DM_BRIDGE['TASKS_ENABLED'] off the work has already run; otherwise it is queued.
        counts: Counter[str] = Counter()
        for row in retried:
            row.refresh_from_db()
            counts[row.get_status_display().lower()] += 1
            if row.status == "failed":
                self.message_user(
                    request, f"{row} failed again: {row.last_error}", messages.WARNING
                )
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        opts = retried[0]._meta
        name = opts.verbose_name if len(retried) == 1 else opts.verbose_name_plural
        self.message_user(request, f"Retried {len(retried)} {name} ({summary}).", messages.SUCCESS)


# ----------------------------------------------------------------------------------------------
# Channels
# ----------------------------------------------------------------------------------------------


class DmMemberInline(admin.TabularInline):
    model = DmMember
    fk_name = "channel"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = (
        "user",
        "status_badge",
        "whop_member_id",
        "added_at",
        "removed_at",
        "attempts",
        "failures",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("created_at",)
    verbose_name_plural = "members (changed only through dm_bridge.services)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DmMember]:
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status_badge(self, obj: DmMember) -> str:
        return status_badge(obj)


class DmOutboxMessageInline(admin.TabularInline):
    model = DmOutboxMessage
    fk_name = "channel"
    extra = 0
    max_num = 0
    can_delete = False
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

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status_badge(self, obj: DmOutboxMessage) -> str:
        return status_badge(obj)

    @admin.display(description="content")
    def short_content(self, obj: DmOutboxMessage) -> str:
        return Truncator(obj.content).chars(80)


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
            {
                "fields": (
                    "whop_channel_id",
                    "whop_name",
                    "needs_reconcile",
                    "activated_at",
                    "last_message_at",
                    "deleted_at",
                    "deleted_on_whop",
                )
            },
        ),
        ("Work (retries and leases)", {"fields": WORK_FIELDS}),
    )
    readonly_fields = (
        "key",
        "company_id",
        "status_badge",
        "host_link",
        "requester",
        "whop_channel_id",
        "whop_name",
        "needs_reconcile",
        "activated_at",
        "last_message_at",
        "deleted_at",
        "deleted_on_whop",
        *WORK_FIELDS,
    )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            "key",
            "whop_channel_id",
            "custom_name",
            *user_search_fields("members__user__"),
            "members__whop_member_id",
            "members__user__whop_link__whop_user_id",
            "members__user__whop_link__whop_username",
        ]

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
        if not obj.host_content_type_id or not obj.host_object_id:
            return "–"
        content_type = obj.host_content_type
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
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
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


# ----------------------------------------------------------------------------------------------
# Users, members, outbox
# ----------------------------------------------------------------------------------------------


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

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            *user_search_fields("user__"),
            "whop_user_id",
            "whop_username",
            "connected_account_id",
        ]

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
    list_filter = ("status", "added_at")
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
        *WORK_FIELDS,
    )
    readonly_fields = fields

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            *user_search_fields("user__"),
            "whop_member_id",
            "channel__key",
            "channel__whop_channel_id",
        ]

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


def channels_of(queryset: QuerySet[Model]) -> QuerySet[DmChannel]:
    return DmChannel.objects.filter(pk__in=queryset.values("channel_id")).order_by("pk")


# ----------------------------------------------------------------------------------------------
# Webhooks
# ----------------------------------------------------------------------------------------------

WEBHOOK_STATUS_COLORS = {
    "received": "#8a6d00",
    "processed": "#1e7e34",
    "ignored": "#6c757d",
    "invalid": "#b02a37",
    "failed": "#b02a37",
}


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """Every request the webhook receiver got; read-only, reprocessed only through the action."""

    list_display = (
        "webhook_id",
        "event_type",
        "status_badge",
        "valid",
        "whop_channel_id",
        "received_at",
        "repeats",
    )
    list_filter = ("status", "event_type", "valid")
    search_fields = ("webhook_id", "whop_channel_id")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)
    actions = ("reprocess",)
    fields = (
        "webhook_id",
        "event_type",
        "status_badge",
        "valid",
        "error",
        "whop_channel_id",
        "received_at",
        "processed_at",
        "attempts",
        "repeats",
        "pretty_headers",
        "pretty_body",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        """Reprocessing changes rows, so it needs the model's real "change" permission."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WebhookEvent) -> str:
        return format_html(
            '<span style="background:{};color:#fff;padding:1px 7px;border-radius:8px;'
            'font-size:11px;white-space:nowrap">{}</span>',
            WEBHOOK_STATUS_COLORS.get(obj.status, "#6c757d"),
            obj.get_status_display(),
        )

    @admin.display(description="headers")
    def pretty_headers(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="body")
    def pretty_body(self, obj: WebhookEvent) -> str:
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:  # not JSON (or cut at 64 KB): show it as received
            text = obj.body
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', text)

    @admin.action(description="Reprocess", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        for event in queryset.order_by("received_at", "pk"):
            if not event.valid:
                self.message_user(
                    request,
                    f"{event}: its signature was not verified; not processed.",
                    messages.WARNING,
                )
                continue
            if event.status == WebhookEvent.Status.PROCESSED and event.error != UNKNOWN_CHANNEL:
                # Its effects are applied already; again would count the message twice.
                self.message_user(request, f"{event}: already processed.", messages.INFO)
                continue
            process_event(event)
            self.log_change(request, event, f"Reprocessed from the admin: {event.status}.")
            if event.status == WebhookEvent.Status.FAILED:
                self.message_user(request, f"{event} failed: {event.error}", messages.ERROR)
            else:
                note = f" ({event.error})" if event.error else ""
                self.message_user(request, f"{event}: {event.status}{note}.", messages.SUCCESS)
