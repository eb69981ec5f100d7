"""Shapes of the REST API. Users are referred to by their local primary key; emails never leave."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..conf import dm_bridge_settings
from ..models import DmChannel, DmMember

MEMBERS_KEY_PREFIX = "users:"  # the keys the API derives from a DM's member set
CLIENT_KEY_PREFIX = "api:"  # keys chosen by API clients live apart from the host's own keys


class ChatTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="A Whop user access token (JWT) for the elements.")
    expires_at = serializers.DateTimeField()


class ChannelSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    ready = serializers.BooleanField(source="is_ready", read_only=True)
    failure = serializers.SerializerMethodField(
        help_text="Why the channel cannot be used yet, for people (null unless status is failed)."
    )
    unread_count = serializers.SerializerMethodField()

    class Meta:
        model = DmChannel
        fields = [
            "id",
            "key",
            "name",
            "status",
            "ready",
            "whop_channel_id",
            "failure",
            "last_message_at",
            "last_activity_at",
            "unread_count",
            "created_at",
        ]
        read_only_fields = fields

    def get_name(self, channel: DmChannel) -> str:
        return channel.custom_name or channel.whop_name

    def get_failure(self, channel: DmChannel) -> str | None:
        # The admin sees the technical reason; members get a message they can act on.
        if channel.status != DmChannel.Status.FAILED:
            return None
        return (
            "This conversation could not be set up. The site's team has been told; try again later."
        )

    def get_unread_count(self, channel: DmChannel) -> int:
        value = getattr(channel, "my_unread_count", None)
        return int(value or 0)


class OpenChannelSerializer(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=200,
        help_text="The other members (local user IDs). You are always a member.",
    )
    key = serializers.CharField(
        required=False,
        allow_blank=False,
        help_text="Your business key (e.g. 'listing:7/buyer:3'). Default: derived from the members.",
    )
    name = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_key(self, value: str) -> str:
        limit = int(dm_bridge_settings.MAX_KEY_LENGTH) - len(CLIENT_KEY_PREFIX)
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters."
            )
        if value.lower().startswith(MEMBERS_KEY_PREFIX):
            # Otherwise anyone could take the key of someone else's DM-by-members first.
            raise serializers.ValidationError(
                f"Keys starting with '{MEMBERS_KEY_PREFIX}' are reserved for DMs identified by "
                "their members; leave the key out for those."
            )
        # Stored as "api:<key>", so a client can never claim a key the host uses (e.g. a
        # "shop:1/buyer:2" the host will open later) and be handed someone else's DM.
        return CLIENT_KEY_PREFIX + value

    def validate_user_ids(self, value: list[int]) -> list[Any]:
        wanted = set(value)
        users = list(get_user_model().objects.filter(pk__in=wanted, is_active=True))
        missing = wanted - {u.pk for u in users}
        if missing:
            raise serializers.ValidationError(
                f"No active user with ID {', '.join(str(pk) for pk in sorted(missing))}."
            )
        return users


class RenameChannelSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, help_text="'' clears the custom name.")


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    class Meta:
        model = DmMember
        fields = ["user_id", "name", "status", "added_at"]
        read_only_fields = fields

    def get_name(self, member: DmMember) -> str:
        return dm_bridge_settings.USER_ADAPTER().get_display_name(member.user)


class AddMemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)

    def validate_user_id(self, value: int) -> Any:
        user = get_user_model().objects.filter(pk=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"No active user with ID {value}.")
        return user


class MarkReadSerializer(serializers.Serializer):
    channel_id = serializers.RegexField(
        r"^feed_[A-Za-z0-9_-]{1,60}$", help_text="The Whop channel ID (feed_…) the user has read."
    )


class UnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
