"""Webhook deliveries: what Whop sent, whether it was verified and applied, reprocessing."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ..models import WebhookEvent
from ..webhooks import UNKNOWN_CHANNEL, process_event

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
        "next_attempt_at",
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
