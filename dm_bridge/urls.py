"""dm_bridge's HTTP surface. Include it once: ``path("dm/", include("dm_bridge.urls"))``.

* ``api/…`` — the REST API (DRF, session auth + CSRF): chat token, my channels, channel
  status, open a DM, members, rename, mark read; ``api/schema/`` is the OpenAPI schema.
* ``webhooks/whop/`` — the Standard-Webhooks receiver for Whop's chat events.
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated

from . import webhooks
from .api import views

app_name = "dm_bridge"

urlpatterns = [
    path("api/token/", views.ChatTokenView.as_view(), name="chat-token"),
    path("api/channels/", views.ChannelListView.as_view(), name="channel-list"),
    path("api/channels/<int:pk>/", views.ChannelDetailView.as_view(), name="channel-detail"),
    path("api/channels/<int:pk>/members/", views.MemberListView.as_view(), name="member-list"),
    path(
        "api/channels/<int:pk>/members/<int:user_id>/",
        views.MemberDetailView.as_view(),
        name="member-detail",
    ),
    path("api/read/", views.MarkReadView.as_view(), name="mark-read"),
    path("api/unread/", views.UnreadView.as_view(), name="unread"),
    path(
        "api/schema/",
        # Signed-in users only, like the rest of the API (drf-spectacular's default is public).
        SpectacularAPIView.as_view(
            authentication_classes=[SessionAuthentication], permission_classes=[IsAuthenticated]
        ),
        name="schema",
    ),
    path("webhooks/whop/", webhooks.receive_webhook, name="webhook"),
]
