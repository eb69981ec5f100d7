"""dm_bridge's HTTP surface. Include it once: ``path("dm/", include("dm_bridge.urls"))``.

* ``api/…`` — the REST API (DRF, session auth + CSRF): chat token, my channels, channel
  status, open a DM, members, rename, mute/archive, mark read; ``api/schema/`` is the
  OpenAPI schema.
* ``webhooks/whop/`` — the Standard-Webhooks receiver for Whop's chat events.
* ``reminders/unsubscribe/<token>/`` — one-click unsubscribe from reminder emails (RFC 8058).
"""

from django.urls import path, register_converter

from . import unsubscribe, webhooks
from .api import views
from .api.serializers import MAX_ID


class IdConverter:
    """Any path segment; an ID (1 … 2**63-1) or 0, which no row has.

    So ``…/channels/abc/`` and ``…/channels/9223372036854775808/`` reach the view and are its
    JSON 404, not Django's HTML one (nor an OverflowError in the database).
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> int:
        if value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_ID:
            return int(value)
        return 0

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "dm_id")

app_name = "dm_bridge"

urlpatterns = [
    path("api/token/", views.ChatTokenView.as_view(), name="chat-token"),
    path("api/channels/", views.ChannelListView.as_view(), name="channel-list"),
    path("api/channels/<dm_id:pk>/", views.ChannelDetailView.as_view(), name="channel-detail"),
    *(
        path(
            f"api/channels/<dm_id:pk>/{change}/",
            views.ChannelPreferenceView.as_view(change=change),
            name=f"channel-{change}",
        )
        for change in views.ChannelPreferenceView.CHANGES
    ),
    path("api/channels/<dm_id:pk>/members/", views.MemberListView.as_view(), name="member-list"),
    path(
        "api/channels/<dm_id:pk>/members/<dm_id:user_id>/",
        views.MemberDetailView.as_view(),
        name="member-detail",
    ),
    path(
        "api/channels/<dm_id:pk>/reports/",
        views.ChannelReportView.as_view(),
        name="channel-report",
    ),
    path("api/channels/<dm_id:pk>/block/", views.ChannelBlockView.as_view(), name="channel-block"),
    path("api/blocks/", views.BlockListView.as_view(), name="block-list"),
    path("api/blocks/<dm_id:pk>/", views.BlockDetailView.as_view(), name="block-detail"),
    path("api/read/", views.MarkReadView.as_view(), name="mark-read"),
    path("api/unread/", views.UnreadView.as_view(), name="unread"),
    path("api/reminders/", views.ReminderPreferenceView.as_view(), name="reminder-preference"),
    path("api/schema/", views.SchemaView.as_view(), name="schema"),
    path("webhooks/whop/", webhooks.receive_webhook, name="webhook"),
    path(
        "reminders/unsubscribe/<str:token>/",
        unsubscribe.unsubscribe,
        name="reminder-unsubscribe",
    ),
]
