"""Response-time summaries behind the shops' "Usually replies within …" badge (read-only)."""

from __future__ import annotations

from django.contrib import admin

from ..models import ResponseSummary
from .base import ReadOnlyRows


@admin.register(ResponseSummary)
class ResponseSummaryAdmin(ReadOnlyRows, admin.ModelAdmin):
    """Each responder's response-time figures (services/response_times.py), read-only."""

    list_display = (
        "responder_type",
        "responder_id",
        "answered",
        "conversations",
        "answered_within_day",
        "median_reply",
        "computed_at",
    )
    list_filter = ("responder_type",)
    list_select_related = ("responder_type",)
    search_fields = ("responder_id",)

    @admin.display(description="median first reply")
    def median_reply(self, obj: ResponseSummary) -> str:
        from ..services.response_times import describe_duration

        seconds = obj.median_reply_seconds
        return "–" if seconds is None else f"{seconds} s ({describe_duration(seconds)})"
