"""REST endpoints. Thin: authenticate, check the policy, call a service, shape the answer.

Every view pins its own DRF machinery — session authentication (which enforces CSRF for
unsafe methods), ``IsAuthenticated``, JSON parsers and renderer, throttles, schema class,
exception handler — so a host's ``REST_FRAMEWORK`` defaults neither loosen, throttle nor break
it. Channels a user may not see are 404 — looked up through ``policy.visible_channels`` before
anything else happens. Bad input is a JSON 4xx decided at the edge (body size, shapes, bounds)
before any expensive work; ``responses(...)`` states each operation's codes in the schema.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db.models import F, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import (
    APIException,
    NotFound,
    ParseError,
    PermissionDenied,
    ValidationError,
)
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView, exception_handler

from .. import services, unread
from ..chat_tokens import mint_chat_token
from ..conf import dm_bridge_settings
from ..exceptions import (
    ChannelDeletedError,
    DmBridgeConfigurationError,
    EmailNotVerified,
    InvalidDmRequest,
    RowBusy,
    UserNotProvisionable,
)
from ..models import Block, BlockedMembership, DmChannel, DmMember, Report
from ..policy import CURRENT, get_policy
from ..ratelimit import RateLimitDeferred
from ..services import blocks
from ..services.blocks import get_moderation_adapter
from ..whop import WhopError
from . import serializers as s

logger = logging.getLogger("dm_bridge")


class Unavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Chat is temporarily unavailable; try again in a moment."
    default_code = "unavailable"
    retry_after: int | None = None  # seconds, sent as Retry-After when set


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


# Every body this API takes is a few KB (200 user IDs, a 200-character key); refusing anything
# larger before it is read keeps parsing cheap, and is JSON where Django's own limit is HTML.
MAX_BODY_BYTES = 64 * 1024


class SettingRateThrottle(UserRateThrottle):
    """A per-user throttle whose rate is the DM_BRIDGE setting named ``rate_setting``."""

    rate_setting = ""

    def get_rate(self) -> str:
        rate: str = getattr(dm_bridge_settings, self.rate_setting)
        return rate


class ChatTokenThrottle(SettingRateThrottle):
    scope = "dm_bridge_chat_token"
    rate_setting = "TOKEN_RATE_LIMIT"


class ChannelPagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` are integers in range or a 400, never silently replaced."""

    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()  # "last" is not an integer; the schema says integer

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return int(dm_bridge_settings.API_PAGE_SIZE)
        return _query_int(self.page_size_query_param, raw, maximum=self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        return _query_int(self.page_query_param, raw, maximum=s.MAX_ID)  # past the end: 404

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1, "maximum": s.MAX_ID},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


def _query_int(name: str, raw: str, *, maximum: int) -> int:
    # Digits only: int() would also take " 7", "+7" and "7_0", which the schema does not.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not 1 <= int(raw) <= maximum:
        raise ValidationError({name: [f"Enter a whole number from 1 to {maximum}."]})
    return int(raw)


class SafeJSONParser(JSONParser):
    """JSON whose nesting exhausts Python's recursion limit is a 400, not a 500.

    It matters before any view code runs: DRF's CSRF check for session auth reads the body.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


class DmBridgeAutoSchema(AutoSchema):
    """drf-spectacular's schema, with blank-allowed strings stated as one string schema.

    drf-spectacular writes ``allow_blank`` as ``oneOf: [<string>, {maxLength: 0}]``; "" matches
    both branches, so by the letter of ``oneOf`` the empty string the server takes is invalid.
    """

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        # drf-spectacular leaves this hook unannotated.
        super()._insert_field_validators(field, schema)  # type: ignore[no-untyped-call]
        alternatives = schema.get("oneOf")
        if not alternatives or alternatives[1:] != [{"type": "string", "maxLength": 0}]:
            return
        inner = alternatives[0]
        if not inner.get("minLength") and re.search(inner.get("pattern", ""), ""):
            del schema["oneOf"]
            schema.update(inner)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def documented(**kwargs: Any) -> Callable[[Handler], Handler]:
    """``extend_schema`` on dm_bridge's own schema class. Plain ``extend_schema`` builds on the
    host's ``DEFAULT_SCHEMA_CLASS`` as it is when this module is imported — DRF's own, which
    drf-spectacular cannot use, if the host never set it (the schema URL was a 500)."""

    def decorate(method: Handler) -> Handler:
        function: Any = method  # a plain function, so it takes attributes
        function.schema = DmBridgeAutoSchema  # what extend_schema takes as its base when set
        return extend_schema(**kwargs)(method)

    return decorate


class DmBridgeAPIView(APIView):
    # All pinned: a host's REST_FRAMEWORK defaults (throttles, renderers, schema class, …) would
    # otherwise apply to these views too.
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [SafeJSONParser]  # JSON only, as documented; anything else is a 415
    renderer_classes = [JSONRenderer]
    throttle_classes: list[Any] = []
    content_negotiation_class = DefaultContentNegotiation
    metadata_class = None  # OPTIONS is not an operation of this API: a 405 like any other
    versioning_class = None
    schema = DmBridgeAutoSchema()

    def get_exception_handler(self) -> Any:
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: the CSRF check already reads the body.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        answer = _as_api_exception(exc)  # once: it logs what it maps
        response = super().handle_exception(answer)
        retry_after = getattr(answer, "retry_after", None)
        if retry_after and isinstance(answer, Unavailable):
            response["Retry-After"] = str(retry_after)
        return response

    def get_channel(self, pk: int) -> DmChannel:
        """The channel if the user may see it; 404 otherwise (no hint that it exists)."""
        return get_object_or_404(get_policy().visible_channels(self.request.user), pk=pk)


def _as_api_exception(exc: Exception) -> Exception:
    """dm_bridge's exceptions as HTTP answers with messages people can act on."""
    if isinstance(exc, RequestDataTooBig):  # Django's own limit, when it is below ours
        return PayloadTooLarge("The request body is too large.")
    if isinstance(exc, TooManyFieldsSent):
        return ValidationError({"detail": "The request has too many fields."})
    if isinstance(exc, ChannelDeletedError):
        return Conflict(str(exc))
    if isinstance(exc, EmailNotVerified):
        return PermissionDenied(str(exc), code="email_unverified")
    if isinstance(exc, UserNotProvisionable):
        return Conflict(f"Your account cannot use chat yet: {exc}")
    if isinstance(exc, InvalidDmRequest):
        return ValidationError({"detail": str(exc)})
    if isinstance(exc, blocks.ConversationBlocked):
        return PermissionDenied(str(exc), code="blocked")
    if isinstance(exc, DmBridgeConfigurationError):
        logger.error("dm_bridge is misconfigured: %s", exc)
        return Unavailable()
    if _is_cache_outage(exc):
        logger.error("dm_bridge API: the cache is unreachable (%s)", type(exc).__name__)
        answer = Unavailable()
        answer.retry_after = 5
        return answer
    if isinstance(exc, (RowBusy, RateLimitDeferred)) or (
        isinstance(exc, WhopError) and exc.retryable
    ):
        answer = Unavailable()
        answer.retry_after = max(1, math.ceil(getattr(exc, "retry_after", None) or 2))
        return answer
    if isinstance(exc, WhopError):
        logger.warning("Whop refused a request: %s", exc)
        return Unavailable("Chat is unavailable right now; the site's team has been told.")
    return exc


def _is_cache_outage(exc: Exception) -> bool:
    """The cache (tokens, throttles) cannot be reached: Redis down, a socket refused."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is optional
        return False
    return isinstance(exc, redis.RedisError)


ERRORS: dict[int, tuple[str, Any]] = {
    400: ("Invalid input (body, query or JSON syntax).", s.VALIDATION_ERROR_BODY),
    403: ("Not signed in, no valid CSRF header, or not allowed by the policy.", s.ErrorSerializer),
    404: (
        "No such channel or member that you may see (or a page past the end).",
        s.ErrorSerializer,
    ),
    406: ("The Accept header allows no JSON answer.", s.ErrorSerializer),
    409: (
        "A conflict: the key is used by another conversation, the channel was deleted, "
        "your account cannot use chat (no email), or a block you cannot make (yourself).",
        s.ErrorSerializer,
    ),
    413: (f"The request body is larger than {MAX_BODY_BYTES} bytes.", s.ErrorSerializer),
    415: ("The body is not JSON (Content-Type).", s.ErrorSerializer),
    429: (
        "Too many requests (chat tokens, reports or blocks); see Retry-After.",
        s.ErrorSerializer,
    ),
    503: (
        "Chat is temporarily unavailable (Whop, the cache or configuration); retry, after "
        "Retry-After when given.",
        s.ErrorSerializer,
    ),
}
# What can go wrong on any request: no session (403), an Accept without JSON (406), an
# oversized body (413).
ALWAYS = (403, 406, 413)
WITH_BODY = (*ALWAYS, 400, 415)  # a body is parsed (the CSRF check does it for every POST)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429, 503],
    description="Seconds to wait before trying again.",
)
CHANNEL_ID = OpenApiParameter(
    "id", {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, OpenApiParameter.PATH
)
ARCHIVED_FILTER = OpenApiParameter(
    "archived",
    {"type": "string", "enum": ["true", "false"]},
    OpenApiParameter.QUERY,
    description="Only the channels I archived (true) or only my inbox (false); default: all.",
)
MEMBER_ID = OpenApiParameter(
    "user_id", {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, OpenApiParameter.PATH
)


def responses(success: dict[int, Any], *codes: int) -> dict[int, Any]:
    """An operation's responses: its successes and every error code it can answer with."""
    answers: dict[int, Any] = dict(success)
    for code in sorted({*ALWAYS, *codes}):
        description, body = ERRORS[code]
        answers[code] = OpenApiResponse(response=body, description=description)
    return answers


class ChatTokenView(DmBridgeAPIView):
    """Mint a chat token for the signed-in user (never for anyone else)."""

    throttle_classes = [ChatTokenThrottle]
    # The body is ignored, but the CSRF check parses it: a form post still gets its token.
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

    @documented(
        request=None,
        parameters=[RETRY_AFTER],
        responses=responses({200: s.ChatTokenSerializer}, *WITH_BODY, 409, 429, 503),
    )
    def post(self, request: Request) -> Response:
        # The user comes from the session only; any user_id in the body is ignored on purpose.
        token = mint_chat_token(request.user)
        return Response(
            token.as_json(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
        )

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        response["Cache-Control"] = "no-store"
        return response


class ChannelListView(DmBridgeAPIView, generics.GenericAPIView[DmChannel]):
    """My channels (most recently active first), or open a DM with other users."""

    pagination_class = ChannelPagination
    filter_backends: list[Any] = []
    serializer_class = s.ChannelSerializer

    def get_queryset(self) -> Any:
        return _with_my_unread(get_policy().visible_channels(self.request.user), self.request.user)

    @documented(
        parameters=[ARCHIVED_FILTER],
        responses=responses({200: s.ChannelSerializer(many=True)}, 400, 404),
    )
    def get(self, request: Request) -> Response:
        channels = self.get_queryset().order_by(
            F("last_activity_at").desc(nulls_last=True), "-created_at"
        )
        archived = request.query_params.get("archived")
        if archived is not None:
            if archived not in ("true", "false"):
                raise ValidationError({"archived": ["Enter true or false."]})
            channels = channels.filter(my_archived=archived == "true")
        page = _count_unread(self.paginate_queryset(channels) or [], request.user)
        return self.get_paginated_response(s.ChannelSerializer(page, many=True).data)

    @documented(
        request=s.OpenChannelSerializer,
        parameters=[RETRY_AFTER],
        responses=responses(
            {200: s.ChannelSerializer, 201: s.ChannelSerializer}, *WITH_BODY, 409, 503
        ),
    )
    def post(self, request: Request) -> Response:
        form = s.OpenChannelSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        wanted = set(form.validated_data["user_ids"]) - {request.user.pk}
        found = list(get_user_model().objects.filter(pk__in=wanted, is_active=True).order_by("pk"))
        users = [request.user, *found]
        key = form.validated_data.get("key") or _members_key(users)
        policy = get_policy()
        # The policy first: a caller who may not open this DM learns nothing about which of
        # the IDs exist (under a policy that lets nobody open, everyone gets the same 403).
        if not policy.can_open(request.user, key=key, users=users):
            raise PermissionDenied("You may not open this conversation.")
        missing = wanted - {u.pk for u in found}
        if missing:
            raise ValidationError(
                {"user_ids": [f"No active user with ID {', '.join(map(str, sorted(missing)))}."]}
            )
        existing = DmChannel.objects.filter(
            company_id=dm_bridge_settings.COMPANY_ID, key=key
        ).first()
        if existing is not None and not policy.can_view(request.user, existing):
            raise Conflict("This key is already used by another conversation.")
        channel = services.open_dm(key, users, custom_name=form.validated_data["name"])
        channel = _mine(channel.pk, request.user)
        code = status.HTTP_200_OK if existing else status.HTTP_201_CREATED
        return Response(s.ChannelSerializer(channel).data, status=code)


class ChannelDetailView(DmBridgeAPIView):
    """One channel's status (what "connecting…" polls), rename, delete."""

    @documented(parameters=[CHANNEL_ID], responses=responses({200: s.ChannelSerializer}, 404))
    def get(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        channel = _mine(channel.pk, request.user)
        return Response(s.ChannelSerializer(channel).data, headers={"Cache-Control": "no-store"})

    @documented(
        request=s.RenameChannelSerializer,
        parameters=[CHANNEL_ID, RETRY_AFTER],
        responses=responses({200: s.ChannelSerializer}, *WITH_BODY, 404, 409, 503),
    )
    def patch(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        if not get_policy().can_rename(request.user, channel):
            raise PermissionDenied("You may not rename this conversation.")
        # A PATCH: without "name" nothing changes (and Whop is not called).
        form = s.RenameChannelSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        if "name" in form.validated_data:
            channel = services.rename_channel(channel, form.validated_data["name"])
        channel = _mine(channel.pk, request.user)
        return Response(s.ChannelSerializer(channel).data)

    @documented(
        parameters=[CHANNEL_ID, RETRY_AFTER],
        responses=responses({204: None}, 404, 409, 503),
    )
    def delete(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        if not get_policy().can_delete(request.user, channel):
            raise PermissionDenied("You may not delete this conversation.")
        services.delete_channel(channel)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelPreferenceView(DmBridgeAPIView):
    """Mute, unmute, archive or unarchive a channel for myself (``services.mute``/``archive``).

    One class for the four paths; ``as_view(change=…)`` names the change. Idempotent; Whop's
    member record is updated by a worker.
    """

    CHANGES: dict[str, tuple[Callable[..., DmMember], bool]] = {
        "mute": (services.mute, True),
        "unmute": (services.mute, False),
        "archive": (services.archive, True),
        "unarchive": (services.archive, False),
    }
    change = "mute"
    # No body is needed; as for the token, a form post (or an empty one) is fine too.
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

    @documented(
        request=None,
        parameters=[CHANNEL_ID],
        responses=responses({200: s.ChannelSerializer}, *WITH_BODY, 404, 409),
    )
    def post(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        service, value = self.CHANGES[self.change]
        service(channel, request.user, value)
        channel = _mine(channel.pk, request.user)
        return Response(s.ChannelSerializer(channel).data)


class MemberListView(DmBridgeAPIView):
    """A channel's current members; add one."""

    @documented(
        parameters=[CHANNEL_ID], responses=responses({200: s.MemberSerializer(many=True)}, 404)
    )
    def get(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        members = channel.members.filter(status__in=CURRENT).select_related("user")
        return Response(s.MemberSerializer(members, many=True).data)

    @documented(
        request=s.AddMemberSerializer,
        parameters=[CHANNEL_ID, RETRY_AFTER],
        responses=responses({201: s.MemberSerializer}, *WITH_BODY, 404, 409, 503),
    )
    def post(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        form = s.AddMemberSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = form.validated_data["user_id"]
        if not get_policy().can_add_member(request.user, channel, user):
            raise PermissionDenied("You may not add members to this conversation.")
        member = services.add_member(channel, user)
        return Response(s.MemberSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailView(DmBridgeAPIView):
    @documented(
        parameters=[CHANNEL_ID, MEMBER_ID, RETRY_AFTER],
        responses=responses({204: None}, 404, 409, 503),
    )
    def delete(self, request: Request, pk: int, user_id: int) -> Response:
        channel = self.get_channel(pk)
        member = (
            channel.members.filter(user_id=user_id, status__in=CURRENT)
            .select_related("user")
            .first()
        )
        if member is None:
            raise NotFound("That user is not a member of this conversation.")
        if not get_policy().can_remove_member(request.user, channel, member.user):
            raise PermissionDenied("You may not remove this member.")
        services.remove_member(channel, member.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MarkReadView(DmBridgeAPIView):
    """The user has seen the channel (called by the elements glue): unread back to 0."""

    @documented(
        request=s.MarkReadSerializer,
        responses=responses({200: s.UnreadSerializer}, *WITH_BODY),
    )
    def post(self, request: Request) -> Response:
        form = s.MarkReadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        unread.mark_read(request.user, form.validated_data["channel_id"])
        return Response({"unread": unread.unread_count(request.user)})


class UnreadView(DmBridgeAPIView):
    """The user's unread message count over all their DMs (for a navigation badge)."""

    @documented(responses=responses({200: s.UnreadSerializer}))
    def get(self, request: Request) -> Response:
        return Response(
            {"unread": unread.unread_count(request.user)}, headers={"Cache-Control": "no-store"}
        )


class ReminderPreferenceView(DmBridgeAPIView):
    """How often the signed-in user gets reminder emails about unread messages."""

    @documented(responses=responses({200: s.ReminderPreferenceSerializer}))
    def get(self, request: Request) -> Response:
        frequency = services.reminder_frequency(request.user)
        return Response({"frequency": frequency}, headers={"Cache-Control": "no-store"})

    @documented(
        request=s.ReminderPreferenceSerializer,
        responses=responses({200: s.ReminderPreferenceSerializer}, *WITH_BODY),
    )
    def put(self, request: Request) -> Response:
        form = s.ReminderPreferenceSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        preference = services.set_reminder_frequency(request.user, form.validated_data["frequency"])
        return Response({"frequency": preference.frequency})


# --- trust and safety: reports and blocks --------------------------------------------------


class ModerationThrottle(SettingRateThrottle):
    scope = "dm_bridge_moderation"
    rate_setting = "MODERATION_RATE_LIMIT"


class ModerationView(DmBridgeAPIView):
    throttle_classes = [ModerationThrottle]

    def get_moderation_channel(self, pk: int) -> DmChannel:
        """A channel the user may see, or one a block took them out of: they may still report
        it (a blocker often reports too). 404 otherwise."""
        user: Any = self.request.user  # authenticated (IsAuthenticated)
        taken_out = BlockedMembership.objects.filter(user=user).values("channel_id")
        channels = DmChannel.objects.exclude(status=DmChannel.Status.DELETED).filter(
            Q(pk__in=get_policy().visible_channels(user).values("pk")) | Q(pk__in=taken_out)
        )
        return get_object_or_404(channels, pk=pk)


class ChannelReportView(ModerationView):
    """Report a conversation, or one of its messages, to the site's moderators."""

    @documented(
        request=s.FileReportSerializer,
        parameters=[CHANNEL_ID, RETRY_AFTER],
        responses=responses(
            {200: s.ReportSerializer, 201: s.ReportSerializer}, *WITH_BODY, 404, 429
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        channel = self.get_moderation_channel(pk)
        form = s.FileReportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        reporter: Any = request.user  # authenticated (IsAuthenticated)
        before = Report.objects.filter(
            channel=channel,
            whop_message_id=data.get("whop_message_id", ""),
            source=Report.Source.USER,
            reporter=reporter,
        ).exists()
        report = services.file_report(
            channel,
            category=data["category"],
            note=data["note"],
            reporter=reporter,
            whop_message_id=data.get("whop_message_id", ""),
        )
        code = status.HTTP_200_OK if before else status.HTTP_201_CREATED
        return Response(s.ReportSerializer(report).data, status=code)


class ChannelBlockView(ModerationView):
    """Block the other side of a conversation (or a named member): the conversation closes."""

    @documented(
        request=s.BlockRequestSerializer,
        parameters=[CHANNEL_ID, RETRY_AFTER],
        responses=responses(
            {200: s.BlockSerializer, 201: s.BlockSerializer}, *WITH_BODY, 404, 409, 429
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        channel = self.get_moderation_channel(pk)
        form = s.BlockRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        adapter = get_moderation_adapter()
        me = adapter.acting_party(channel, request.user)
        user_id = form.validated_data.get("user_id")
        if user_id is None:
            target = adapter.counterpart(channel, request.user)
            if target is None:
                raise Conflict("Name the member to block (user_id): this conversation has several.")
        else:
            member = channel.members.filter(user_id=user_id).select_related("user").first()
            if member is None:
                raise NotFound("That user is not in this conversation.")
            target = member.user
        if blocks.party_key(target) == blocks.party_key(me) or target == request.user:
            raise Conflict("You can't block yourself.")
        before = blocks.find_block(me, target) is not None
        row = services.block(me, target, actor=request.user)
        code = status.HTTP_200_OK if before else status.HTTP_201_CREATED
        return Response(s.BlockSerializer(row).data, status=code)


class BlockListView(DmBridgeAPIView, generics.GenericAPIView[Block]):
    """The blocks I hold (mine, and those of the parties I act for, e.g. my shop's)."""

    pagination_class = ChannelPagination
    filter_backends: list[Any] = []
    serializer_class = s.BlockSerializer

    @documented(responses=responses({200: s.BlockSerializer(many=True)}, 400, 404))
    def get(self, request: Request) -> Response:
        parties = get_moderation_adapter().parties_of(request.user)
        page = self.paginate_queryset(blocks.blocks_by(parties).order_by("-created_at", "-pk"))
        return self.get_paginated_response(s.BlockSerializer(page, many=True).data)


class BlockDetailView(ModerationView):
    @documented(
        parameters=[
            OpenApiParameter(
                "id", {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, OpenApiParameter.PATH
            ),
            RETRY_AFTER,
        ],
        responses=responses({204: None}, 404, 429),
    )
    def delete(self, request: Request, pk: int) -> Response:
        """Unblock: the conversations the block closed get their members back."""
        parties = get_moderation_adapter().parties_of(request.user)
        row = get_object_or_404(blocks.blocks_by(parties), pk=pk)
        services.unblock(row.blocker, row.blocked, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, for signed-in users only (drf-spectacular's default is public), with
    the same pinned machinery as the API: a host's throttles or versioning never apply."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes: list[Any] = []  # GET only
    throttle_classes: list[Any] = []
    content_negotiation_class = DefaultContentNegotiation
    metadata_class = None
    versioning_class = None
    schema = DmBridgeAutoSchema()

    def get_exception_handler(self) -> Any:
        return exception_handler

    @documented(exclude=True)  # the schema itself is not an operation of this API
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # drf-spectacular leaves SpectacularAPIView.get unannotated.
        schema: Response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
        return schema


def _members_key(users: list[Any]) -> str:
    """The default key of a DM: its member set. Hashed when the list would not fit in a key
    (50 members with 4-digit IDs are 250+ characters) — still one key per member set."""
    key = s.MEMBERS_KEY_PREFIX + "-".join(str(pk) for pk in sorted(u.pk for u in users))
    limit = s.client_key_limit() + len(s.CLIENT_KEY_PREFIX)
    if len(key) <= limit:
        return key
    return s.MEMBERS_KEY_PREFIX + "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _mine(pk: int, user: Any) -> DmChannel:
    """One channel with the viewer's own membership state."""
    channel: DmChannel = _with_my_unread(DmChannel.objects.filter(pk=pk), user).get()
    return _count_unread([channel], user)[0]


def _count_unread(channels: list[DmChannel], user: Any) -> list[DmChannel]:
    """Unread counts as the total badge counts them (a shared Whop DM once)."""
    counts = unread.unread_per_channel(user, [c.pk for c in channels])
    for channel in channels:
        channel.my_unread_count = counts.get(channel.pk, 0)  # type: ignore[attr-defined]
    return channels


def _with_my_unread(channels: Any, user: Any) -> Any:
    """The viewer's own membership state per channel: unread count, muted, archived."""
    mine = DmMember.objects.filter(channel=OuterRef("pk"), user=user)
    return channels.annotate(
        my_unread_count=Subquery(mine.values("unread_count")[:1]),
        my_muted=Subquery(mine.values("muted")[:1]),
        my_archived=Subquery(mine.values("archived")[:1]),
    )
