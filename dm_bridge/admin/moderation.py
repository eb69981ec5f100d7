"""Moderation: the report queue (messages in context, actions with a required reason),
blocks (with Lift) and the audit log.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from .. import services
from ..exceptions import DmBridgeError
from ..models import (
    Block,
    DmChannel,
    ModerationAction,
    Report,
)
from ..services import moderation
from ..services.blocks import get_moderation_adapter
from ..services.moderation import ACTIONS, MAX_REASON_LENGTH
from .base import (
    ReadOnlyRows,
    user_search_fields,
)


class ModerationActionForm(forms.Form):
    """What a moderator does about a report; the reason is required and kept in the log."""

    action = forms.ChoiceField(
        choices=[(kind.value, kind.label) for kind in ModerationAction.Kind if kind in ACTIONS]
    )
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        help_text="For “remove a user from the DM” and “block a user site-wide”.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=MAX_REASON_LENGTH,
        help_text="Why (kept in the moderation log; never shown to the users).",
    )

    def __init__(self, *args: Any, channel: DmChannel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = get_user_model().objects.filter(dm_memberships__channel=channel).distinct()
        self.fields["user"].queryset = members  # type: ignore[attr-defined]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The moderation queue: open reports first; each shows its messages read from Whop and
    takes an action with a reason (``services.act_on_report``)."""

    list_display = (
        "created_at",
        "category",
        "reported",
        "channel_link",
        "reporter",
        "source",
        "queue_status",
    )
    list_filter = ("status", "category", "source", "created_at")
    list_select_related = ("channel", "reporter")
    change_form_template = "admin/dm_bridge/report/change_form.html"
    fields = (
        "channel_link",
        "whop_message_id",
        "category",
        "note",
        "reporter",
        "source",
        "queue_status",
        "created_at",
        "resolved_at",
        "resolved_by",
    )
    readonly_fields = fields

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # The queue: open reports first, newest first within each status.
        open_first = Case(When(status=Report.Status.OPEN, then=Value(0)), default=Value(1))
        return [open_first.asc(), "-created_at"]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            "channel__key",
            "channel__whop_channel_id",
            "whop_message_id",
            "note",
            *user_search_fields("reporter__"),
        ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # reports are evidence: moderators act on them, never edit them

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(f"{self.opts.app_label}.change_report"))

    @admin.display(description="reported")
    def reported(self, obj: Report) -> str:
        return f"message {obj.whop_message_id}" if obj.whop_message_id else "the conversation"

    @admin.display(description="conversation")
    def channel_link(self, obj: Report) -> str:
        url = reverse("admin:dm_bridge_dmchannel_change", args=[obj.channel_id])
        return format_html('<a href="{}">{}</a>', url, obj.channel)

    @admin.display(description="status", ordering="status")
    def queue_status(self, obj: Report) -> str:
        colors = {"open": "#b02a37", "dismissed": "#6c757d", "actioned": "#1e7e34"}
        return format_html(
            '<span style="background:{};color:#fff;padding:1px 7px;border-radius:8px;'
            'font-size:11px">{}</span>',
            colors.get(obj.status, "#6c757d"),
            obj.get_status_display(),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        report = self.get_object(request, unquote(object_id))
        if report is None:
            return super().change_view(request, object_id, form_url, extra_context)
        if not self.has_view_or_change_permission(request, report):
            raise PermissionDenied  # before reading anything from Whop
        can_moderate = self.has_moderate_permission(request)
        form = ModerationActionForm(
            request.POST if request.method == "POST" else None, channel=report.channel
        )
        if request.method == "POST":
            if not can_moderate:
                raise PermissionDenied
            if form.is_valid():
                try:
                    services.act_on_report(
                        report,
                        form.cleaned_data["action"],
                        moderator=request.user,
                        reason=form.cleaned_data["reason"],
                        user=form.cleaned_data["user"],
                    )
                except DmBridgeError as exc:
                    form.add_error(None, str(exc))
                else:
                    label = ModerationAction.Kind(form.cleaned_data["action"]).label
                    self.message_user(request, f"{label}: done and logged.", messages.SUCCESS)
                    return HttpResponseRedirect(request.path)
        context_messages, context_note = moderation.context_messages(report)
        extra = {
            **(extra_context or {}),
            "context_messages": context_messages,
            "context_note": context_note,
            "moderation_form": form if can_moderate else None,
            "moderation_log": report.actions.select_related("actor", "target_user"),
            "other_reports": Report.objects.filter(channel=report.channel)
            .exclude(pk=report.pk)
            .select_related("reporter")[:20],
        }
        # Rendered as a read-only page (reports have no change permission); an action's POST
        # was handled above, so the page is shown as for a GET, with the form's errors.
        request.method = "GET"
        return super().change_view(request, object_id, form_url, extra)


@admin.register(Block)
class BlockAdmin(ReadOnlyRows, admin.ModelAdmin):
    list_display = ("created_at", "blocker_name", "blocked_name", "created_by", "reason")
    list_filter = (("blocker_type", admin.EmptyFieldListFilter), "blocked_type", "created_at")
    list_select_related = ("created_by",)
    actions = ("lift",)
    fields = ("blocker_name", "blocked_name", "created_by", "reason", "created_at", "closed_dms")
    readonly_fields = fields

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(f"{self.opts.app_label}.delete_block"))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting rows would leave the DMs closed
        return actions

    @admin.display(description="blocker")
    def blocker_name(self, obj: Block) -> str:
        if obj.site_wide:
            return "the site (site-wide)"
        return get_moderation_adapter().describe_party(obj.blocker) if obj.blocker else "?"

    @admin.display(description="blocked")
    def blocked_name(self, obj: Block) -> str:
        return get_moderation_adapter().describe_party(obj.blocked) if obj.blocked else "?"

    @admin.display(description="DMs it closed")
    def closed_dms(self, obj: Block) -> str:
        rows = obj.memberships.select_related("channel", "user")
        return ", ".join(f"{m.user} out of {m.channel}" for m in rows) or "–"

    @admin.action(
        description="Lift the selected blocks (the DMs get their members back)",
        permissions=["lift"],
    )
    def lift(self, request: HttpRequest, queryset: QuerySet[Block]) -> None:
        for row in queryset.order_by("pk"):
            if row.site_wide:
                services.lift_site_block(
                    row.blocked, moderator=request.user, reason="Lifted in the admin."
                )
            else:
                services.unblock(row.blocker, row.blocked)
        self.message_user(request, "Lifted and logged.", messages.SUCCESS)


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyRows, admin.ModelAdmin):
    """The audit log: read-only, every block, unblock and moderator action."""

    list_display = (
        "created_at",
        "kind",
        "actor",
        "summary",
        "target_user",
        "report_link",
        "channel",
        "short_reason",
    )
    list_filter = ("kind", "created_at")
    list_select_related = ("actor", "target_user", "report", "channel")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "kind",
        "actor",
        "summary",
        "target_user",
        "report_link",
        "channel",
        "reason",
    )
    readonly_fields = fields

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            "summary",
            "reason",
            *user_search_fields("actor__"),
            *user_search_fields("target_user__"),
        ]

    @admin.display(description="report")
    def report_link(self, obj: ModerationAction) -> str:
        if obj.report_id is None:
            return "–"
        url = reverse("admin:dm_bridge_report_change", args=[obj.report_id])
        return format_html('<a href="{}">#{}</a>', url, obj.report_id)

    @admin.display(description="reason")
    def short_reason(self, obj: ModerationAction) -> str:
        return Truncator(obj.reason).chars(80)
