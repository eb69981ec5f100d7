from django.contrib import admin
from django.urls import include, path

from . import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("listings/<int:pk>/", views.listing_detail, name="listing-detail"),
    path("listings/<int:pk>/message/", views.listing_message, name="listing-message"),
    path("listings/<int:pk>/status/", views.listing_status, name="listing-status"),
    path("shops/new/", views.shop_create, name="shop-create"),
    path("shops/mine/", views.my_shops, name="my-shops"),
    path("shops/<slug:slug>/", views.shop_detail, name="shop-detail"),
    path("shops/<slug:slug>/listings/new/", views.listing_create, name="listing-create"),
    path("shops/<slug:slug>/staff/", views.shop_staff, name="shop-staff"),
    path(
        "shops/<slug:slug>/staff/<int:user_id>/remove/",
        views.shop_staff_remove,
        name="shop-staff-remove",
    ),
    path(
        "shops/<slug:slug>/invitations/<int:pk>/revoke/",
        views.shop_invitation_revoke,
        name="shop-invitation-revoke",
    ),
    path("invitations/<int:pk>/respond/", views.invitation_respond, name="invitation-respond"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("messages/", views.inbox, name="inbox"),
    path("messages/<int:pk>/", views.conversation_detail, name="conversation-detail"),
    path("messages/<int:pk>/block/", views.conversation_block, name="conversation-block"),
    path(
        "messages/<int:pk>/preferences/",
        views.conversation_preferences,
        name="conversation-preferences",
    ),
    path("messages/<int:pk>/report/", views.conversation_report, name="conversation-report"),
    path("shops/<slug:slug>/block/", views.shop_block, name="shop-block"),
    path("settings/notifications/", views.notification_settings, name="notification-settings"),
    # Sign-up, email confirmation, login, logout, password reset: django-allauth.
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.health, name="health"),
    path("dm/", include("dm_bridge.urls")),
]
