"""REST endpoints. Thin: authenticate, check the policy, call a service, shape the answer.

Every view pins session authentication (which enforces CSRF for unsafe methods) and
``IsAuthenticated``, so a host's looser DRF defaults never apply here. Channels a user may not
see are 404 — looked up through ``policy.visible_channels`` before anything else happens.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

from django.db.models import F, OuterRef, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import (
    APIException,
    NotFound,
    ParseError,
    PermissionDenied,
    ValidationError,
)
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

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
from ..models import DmChannel, DmMember
from ..policy import CURRENT, get_policy
from ..ratelimit import RateLimitDeferred
from ..whop import WhopError
from . import serializers as s

logger = logging.getLogger("dm_bridge")


class Unavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Chat is temporarily unavailable; try again in a moment."
    default_code = "unavailable"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ChatTokenThrottle(UserRateThrottle):
    scope = "dm_bridge_chat_token"

    def get_rate(self) -> str:
        return dm_bridge_settings.TOKEN_RATE_LIMIT


class ChannelPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        self.page_size = int(dm_bridge_settings.API_PAGE_SIZE)
        return super().get_page_size(request)


class SafeJSONParser(JSONParser):
    """JSON whose nesting exhausts Python's recursion limit is a 400, not a 500.

    It matters before any view code runs: DRF's CSRF check for session auth reads the body.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


class DmBridgeAPIView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

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
    if isinstance(exc, ChannelDeletedError):
        return Conflict(str(exc))
    if isinstance(exc, EmailNotVerified):
        return PermissionDenied(str(exc), code="email_unverified")
    if isinstance(exc, UserNotProvisionable):
        return Conflict(f"Your account cannot use chat yet: {exc}")
    if isinstance(exc, InvalidDmRequest):
        return ValidationError({"detail": str(exc)})
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


class ChatTokenView(DmBridgeAPIView):
    """Mint a chat token for the signed-in user (never for anyone else)."""

    throttle_classes = [ChatTokenThrottle]

    @extend_schema(request=None, responses={200: s.ChatTokenSerializer})
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


class ChannelListView(DmBridgeAPIView, generics.GenericAPIView):
    """My channels (most recently active first), or open a DM with other users."""

    pagination_class = ChannelPagination
    serializer_class = s.ChannelSerializer

    def get_queryset(self) -> Any:
        return _with_my_unread(get_policy().visible_channels(self.request.user), self.request.user)

    @extend_schema(responses={200: s.ChannelSerializer(many=True)})
    def get(self, request: Request) -> Response:
        channels = self.get_queryset().order_by(
            F("last_activity_at").desc(nulls_last=True), "-created_at"
        )
        page = self.paginate_queryset(channels)
        return self.get_paginated_response(s.ChannelSerializer(page, many=True).data)

    @extend_schema(
        request=s.OpenChannelSerializer,
        responses={200: s.ChannelSerializer, 201: s.ChannelSerializer},
    )
    def post(self, request: Request) -> Response:
        form = s.OpenChannelSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        users = [
            request.user,
            *(u for u in form.validated_data["user_ids"] if u.pk != request.user.pk),
        ]
        key = form.validated_data.get("key") or _members_key(users)
        policy = get_policy()
        if not policy.can_open(request.user, key=key, users=users):
            raise PermissionDenied("You may not open this conversation.")
        existing = DmChannel.objects.filter(
            company_id=dm_bridge_settings.COMPANY_ID, key=key
        ).first()
        if existing is not None and not policy.can_view(request.user, existing):
            raise Conflict("This key is already used by another conversation.")
        channel = services.open_dm(key, users, custom_name=form.validated_data["name"])
        channel = self.get_queryset().get(pk=channel.pk)
        code = status.HTTP_200_OK if existing else status.HTTP_201_CREATED
        return Response(s.ChannelSerializer(channel).data, status=code)


class ChannelDetailView(DmBridgeAPIView):
    """One channel's status (what "connecting…" polls), rename, delete."""

    @extend_schema(responses={200: s.ChannelSerializer})
    def get(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        channel = _with_my_unread(DmChannel.objects.filter(pk=channel.pk), request.user).get()
        return Response(s.ChannelSerializer(channel).data, headers={"Cache-Control": "no-store"})

    @extend_schema(request=s.RenameChannelSerializer, responses={200: s.ChannelSerializer})
    def patch(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        if not get_policy().can_rename(request.user, channel):
            raise PermissionDenied("You may not rename this conversation.")
        form = s.RenameChannelSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        channel = services.rename_channel(channel, form.validated_data["name"])
        channel = _with_my_unread(DmChannel.objects.filter(pk=channel.pk), request.user).get()
        return Response(s.ChannelSerializer(channel).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        if not get_policy().can_delete(request.user, channel):
            raise PermissionDenied("You may not delete this conversation.")
        services.delete_channel(channel)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(DmBridgeAPIView):
    """A channel's current members; add one."""

    @extend_schema(responses={200: s.MemberSerializer(many=True)})
    def get(self, request: Request, pk: int) -> Response:
        channel = self.get_channel(pk)
        members = channel.members.filter(status__in=CURRENT).select_related("user")
        return Response(s.MemberSerializer(members, many=True).data)

    @extend_schema(request=s.AddMemberSerializer, responses={201: s.MemberSerializer})
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
    @extend_schema(responses={204: None})
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

    @extend_schema(request=s.MarkReadSerializer, responses={200: s.UnreadSerializer})
    def post(self, request: Request) -> Response:
        form = s.MarkReadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        unread.mark_read(request.user, form.validated_data["channel_id"])
        return Response({"unread": unread.unread_count(request.user)})


class UnreadView(DmBridgeAPIView):
    """The user's unread message count over all their DMs (for a navigation badge)."""

    @extend_schema(responses={200: s.UnreadSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {"unread": unread.unread_count(request.user)}, headers={"Cache-Control": "no-store"}
        )


def _members_key(users: list[Any]) -> str:
    """The default key of a DM: its member set. Hashed when the list would not fit in a key
    (50 members with 4-digit IDs are 250+ characters) — still one key per member set."""
    key = s.MEMBERS_KEY_PREFIX + "-".join(str(pk) for pk in sorted(u.pk for u in users))
    limit = min(int(dm_bridge_settings.MAX_KEY_LENGTH), DmChannel._meta.get_field("key").max_length)
    if len(key) <= limit:
        return key
    return s.MEMBERS_KEY_PREFIX + "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _with_my_unread(channels: Any, user: Any) -> Any:
    mine = DmMember.objects.filter(channel=OuterRef("pk"), user=user).values("unread_count")[:1]
    return channels.annotate(my_unread_count=Subquery(mine))
