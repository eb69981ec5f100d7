"""Shared admin building blocks: status badges, error summaries, read-only rows, and the
base admin for rows the workers maintain (with "Retry now").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince

from .. import services
from ..exceptions import DmBridgeError
from ..models import (
    DmChannel,
    WhopUserLink,
)

STATUS_COLORS = {
    "pending": "#8a6d00",
    "active": "#1e7e34",
    "sent": "#1e7e34",
    "sending": "#8a6d00",
    "skipped": "#6c757d",
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


class ReadOnlyRows:
    """No add, change or delete from the admin: only dm_bridge's services write these rows."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WorkRowAdmin(ReadOnlyRows, admin.ModelAdmin):
    """Shared behaviour for rows workers maintain: read-only, retried only through services."""

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Retrying changes the row, so it needs the model's real "change" permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    # Where the row's host users are (e.g. "user__"): their username and email are searched
    # too, beside ``search_fields``. Read per request: the host's user model decides the names.
    user_search_prefix = ""

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        own = list(super().get_search_fields(request))
        if not self.user_search_prefix:
            return own
        return [*own, *user_search_fields(self.user_search_prefix)]

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


class ReadOnlyInline(ReadOnlyRows, admin.TabularInline):
    """Rows shown beside their parent, never added, changed or deleted from it."""

    extra = 0
    max_num = 0
    can_delete = False

    @admin.display(description="status")
    def status_badge(self, obj: Any) -> str:
        return status_badge(obj)


def channels_of(queryset: QuerySet[Model]) -> QuerySet[DmChannel]:
    return DmChannel.objects.filter(pk__in=queryset.values("channel_id")).order_by("pk")
