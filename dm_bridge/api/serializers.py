"""Shapes of the REST API. Users are referred to by their local primary key; emails never leave."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator, MinLengthValidator, RegexValidator
from rest_framework import serializers

from ..adapters import get_user_adapter
from ..conf import dm_bridge_settings
from ..models import Block, DmChannel, DmMember, ReminderPreference, Report
from ..services.validation import key_limit, name_limit

MEMBERS_KEY_PREFIX = "users:"  # the keys the API derives from a DM's member set
CLIENT_KEY_PREFIX = "api:"  # keys chosen by API clients live apart from the host's own keys

# The largest ID any supported database stores (a signed 64-bit integer). Larger numbers are
# refused at the edge: SQLite raises OverflowError on them, which used to be a 500.
MAX_ID = 2**63 - 1
MAX_OPEN_USER_IDS = 200  # more than MAX_MEMBERS on purpose: duplicates and yourself are allowed

# A client key: no control characters, no leading or trailing space, not the reserved prefix
# (in any case). Written with explicit classes only, so Python's `re` (the server) and ECMA
# regexes (the OpenAPI schema, clients) read it the same way.
# \A…\Z, not ^…$: Python's $ also matches before a final newline (drf-spectacular writes them
# as ^…$ for the schema).
CLIENT_KEY_PATTERN = (
    r"\A(?![Uu][Ss][Ee][Rr][Ss]:)[^\x00-\x20\x7f]([^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?\Z"
)
NO_NUL_PATTERN = r"\A[^\x00]*\Z"
WHOP_CHANNEL_ID_PATTERN = r"\Afeed_[A-Za-z0-9_-]{1,60}\Z"


def client_key_limit() -> int:
    """How long a client's key may be: the stored ``api:<key>`` must fit the key column."""
    return key_limit() - len(CLIENT_KEY_PREFIX)


class BoundedListField(serializers.ListField):
    """A list whose length is checked before any item is: a 1.2-million-item list is refused
    at once instead of after validating every item (seconds of CPU)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        limit = self.max_length
        if isinstance(data, list | tuple) and limit is not None and len(data) > limit:
            self.fail("max_length", max_length=limit)
        return super().to_internal_value(data)


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class _StrictIntegerField(serializers.IntegerField):
    """JSON numbers only: DRF would also take "7" and true, which the schema does not."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """JSON strings only: DRF would turn 0 or true into "0" and "True"; the schema says string."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictRegexField(serializers.RegexField, StrictCharField):
    pass


def _strict_id_field(**kwargs: Any) -> serializers.IntegerField:
    return _StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class ChatTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="A Whop user access token (JWT) for the elements.")
    expires_at = serializers.DateTimeField()


class ChannelSerializer(serializers.ModelSerializer[DmChannel]):
    name = serializers.SerializerMethodField()
    ready = serializers.BooleanField(source="is_ready", read_only=True)
    failure = serializers.SerializerMethodField(
        help_text="Why the channel cannot be used yet, for people (null unless status is failed)."
    )
    unread_count = serializers.SerializerMethodField(
        help_text="Messages in it I have not read (a muted conversation still counts)."
    )
    muted = serializers.SerializerMethodField(
        help_text="I muted it: no reminders about it (Whop: notifications off)."
    )
    archived = serializers.SerializerMethodField(
        help_text="I archived it: out of my inbox until a new message arrives."
    )

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
            "muted",
            "archived",
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

    # The viewer's own membership, annotated by the views (``my_…``).
    def get_muted(self, channel: DmChannel) -> bool:
        return bool(getattr(channel, "my_muted", False))

    def get_archived(self, channel: DmChannel) -> bool:
        return bool(getattr(channel, "my_archived", False))


class _ClientKeyValidator(RegexValidator):
    """CLIENT_KEY_PATTERN (which the schema states), with the reserved prefix explained."""

    def __init__(self) -> None:
        super().__init__(
            CLIENT_KEY_PATTERN, "Enter a key without control characters or surrounding spaces."
        )

    def __call__(self, value: Any) -> None:
        if str(value).lstrip().lower().startswith(MEMBERS_KEY_PREFIX):
            # Otherwise anyone could take the key of someone else's DM-by-members first.
            raise serializers.ValidationError(
                f"Keys starting with '{MEMBERS_KEY_PREFIX}' are reserved for DMs identified by "
                "their members; leave the key out for those."
            )
        super().__call__(value)


class OpenChannelSerializer(serializers.Serializer[Any]):
    # Shape only: whether the users exist is the view's question, asked after the policy's.
    user_ids = BoundedListField(
        child=_strict_id_field(),
        allow_empty=False,
        min_length=1,
        max_length=MAX_OPEN_USER_IDS,
        help_text="The other members (local user IDs). You are always a member.",
    )
    key = StrictCharField(
        required=False,
        trim_whitespace=False,  # the pattern is the whole rule, as the schema states it
        validators=[_ClientKeyValidator()],
        help_text=(
            "Your business key (e.g. 'listing:7/buyer:3'), stored as 'api:<key>'. Keys starting "
            "with 'users:' (any case) are reserved. Default: derived from the members."
        ),
    )
    name = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        validators=[RegexValidator(NO_NUL_PATTERN, "Null characters are not allowed.")],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Limits come from DM_BRIDGE at request time (and at schema time, so both agree).
        key, name = self.fields["key"], self.fields["name"]
        _set_length(key, min_length=1, max_length=client_key_limit())
        _set_length(name, max_length=name_limit())

    def validate_key(self, value: str) -> str:
        # Stored as "api:<key>", so a client can never claim a key the host uses (e.g. a
        # "shop:1/buyer:2" the host will open later) and be handed someone else's DM.
        return CLIENT_KEY_PREFIX + value


def _set_length(field: serializers.Field[Any, Any, Any, Any], **limits: int) -> None:
    """Set a CharField's length limits after construction (validators and schema alike)."""
    for name, value in limits.items():
        setattr(field, name, value)
        validator = MinLengthValidator if name == "min_length" else MaxLengthValidator
        message = field.error_messages[name].format(**{name: value})
        field.validators.append(validator(value, message=message))


class RenameChannelSerializer(serializers.Serializer[Any]):
    name = StrictCharField(
        allow_blank=True,
        trim_whitespace=False,
        validators=[RegexValidator(NO_NUL_PATTERN, "Null characters are not allowed.")],
        help_text="'' clears the custom name.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_length(self.fields["name"], max_length=name_limit())


class MemberSerializer(serializers.ModelSerializer[DmMember]):
    user_id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    class Meta:
        model = DmMember
        fields = ["user_id", "name", "status", "added_at"]
        read_only_fields = fields

    def get_name(self, member: DmMember) -> str:
        return get_user_adapter().get_display_name(member.user)


class AddMemberSerializer(serializers.Serializer[Any]):
    user_id = _strict_id_field()

    def validate_user_id(self, value: int) -> Any:
        user = get_user_model().objects.filter(pk=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"No active user with ID {value}.")
        return user


class MarkReadSerializer(serializers.Serializer[Any]):
    channel_id = StrictRegexField(
        WHOP_CHANNEL_ID_PATTERN,
        trim_whitespace=False,
        help_text="The Whop channel ID (feed_…) the user has read.",
    )


class UnreadSerializer(serializers.Serializer[Any]):
    unread = serializers.IntegerField()


class ReminderPreferenceSerializer(serializers.Serializer[Any]):
    """How often the signed-in user is emailed about unread messages."""

    frequency = serializers.ChoiceField(
        choices=ReminderPreference.Frequency.choices,
        help_text="batch: one email per batch of unread messages; daily: a digest; off: none.",
    )

    def to_internal_value(self, data: Any) -> Any:
        # JSON strings only: ChoiceField would match the number 1 against a choice "1".
        value = data.get("frequency") if isinstance(data, dict) else None
        if value is not None and not isinstance(value, str):
            raise serializers.ValidationError({"frequency": ["Enter a string."]})
        return super().to_internal_value(data)


# --- trust and safety: reports and blocks --------------------------------------------------

WHOP_MESSAGE_ID_PATTERN = r"\A[A-Za-z0-9_-]{1,64}\Z"
MAX_NOTE_LENGTH = 2000  # the schema's bound; MODERATION_NOTE_MAX_LENGTH may lower it


class StrictChoiceField(serializers.ChoiceField):
    """JSON strings only: ChoiceField would match the number 1 against a choice "1"."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class FileReportSerializer(serializers.Serializer[Any]):
    category = StrictChoiceField(
        choices=Report.Category.choices,
        help_text="spam, harassment, scam, off_platform (asking to pay off-platform) or other.",
    )
    note = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_NOTE_LENGTH,
        validators=[RegexValidator(NO_NUL_PATTERN, "Null characters are not allowed.")],
        help_text="What happened, in the reporter's words (for the moderators only).",
    )
    # No default: "" would not match the pattern the schema states (absent = the conversation).
    whop_message_id = StrictRegexField(
        WHOP_MESSAGE_ID_PATTERN,
        required=False,
        trim_whitespace=False,
        help_text="The reported message's Whop ID; leave it out to report the conversation.",
    )

    def validate_note(self, value: str) -> str:
        limit = int(dm_bridge_settings.MODERATION_NOTE_MAX_LENGTH)
        if len(value.strip()) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters."
            )
        return value


class ReportSerializer(serializers.ModelSerializer[Report]):
    channel_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Report
        fields = ["id", "channel_id", "category", "whop_message_id", "note", "status", "created_at"]
        read_only_fields = fields


class BlockRequestSerializer(serializers.Serializer[Any]):
    user_id = _strict_id_field(
        required=False,
        help_text="A member to block (a person). Leave it out to block the other side of the "
        "conversation (in a marketplace: the shop, or the buyer).",
    )


class BlockSerializer(serializers.ModelSerializer[Block]):
    blocked = serializers.SerializerMethodField(help_text="Who is blocked, as people see them.")

    class Meta:
        model = Block
        fields = ["id", "blocked", "created_at"]
        read_only_fields = fields

    def get_blocked(self, block: Block) -> str:
        from ..services.blocks import get_moderation_adapter

        party = block.blocked
        return get_moderation_adapter().describe_party(party) if party is not None else ""


class ErrorSerializer(serializers.Serializer[Any]):
    """What went wrong, for people."""

    detail = serializers.CharField()


# DRF builds this body itself; no serializer has its shape, so the schema is written out.
VALIDATION_ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": (
        "Invalid input: `detail` (a message for the whole request), or DRF's field errors — "
        "each field's messages (per item for a list field)."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        ]
    },
}
