"""Validation shared by the requests: keys, names, member lists, settings, live channels.

Everything here raises before anything is written, so a bad request leaves no row behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from ..adapters import get_user_adapter
from ..conf import dm_bridge_settings
from ..exceptions import (
    ChannelDeletedError,
    DmBridgeConfigurationError,
    InvalidDmRequest,
    UserNotProvisionable,
)
from ..models import DmChannel, DmMember, WhopUserLink

logger = logging.getLogger("dm_bridge")


CURRENT_MEMBER = (DmMember.Status.PENDING, DmMember.Status.ACTIVE, DmMember.Status.FAILED)


def current_member(channel: DmChannel, user: Any) -> DmMember | None:
    """The user's current membership of the channel (pending, active or failed), if any."""
    return DmMember.objects.filter(channel=channel, user=user, status__in=CURRENT_MEMBER).first()


def company_for(company_id: str | None) -> str:
    company = company_id or dm_bridge_settings.COMPANY_ID
    if not company:
        raise DmBridgeConfigurationError(
            "DM_BRIDGE['COMPANY_ID'] is not set (the biz_… your app's DMs belong to)."
        )
    return company


def max_members() -> int:
    return int(dm_bridge_settings.MAX_MEMBERS)


def max_attempts() -> int:
    return int(dm_bridge_settings.MAX_ATTEMPTS)


def _column_length(name: str) -> int:
    field = DmChannel._meta.get_field(name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise DmBridgeConfigurationError(f"DmChannel.{name} must be a CharField with max_length.")
    return field.max_length


def key_limit() -> int:
    """How long a DM key may be: the setting, capped by the column."""
    return min(int(dm_bridge_settings.MAX_KEY_LENGTH), _column_length("key"))


def name_limit() -> int:
    """How long a DM's custom name may be: the setting, capped by the column."""
    return min(int(dm_bridge_settings.MAX_NAME_LENGTH), _column_length("custom_name"))


def clean_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidDmRequest("A DM needs a non-empty key, e.g. 'shop:12/buyer:34'.")
    key = key.strip()
    limit = key_limit()
    if len(key) > limit:
        raise InvalidDmRequest(
            f"A DM key can be at most {limit} characters; this one has {len(key)}."
        )
    return key


def clean_name(name: str | None) -> str:
    name = (name or "").strip()
    limit = name_limit()
    if len(name) > limit:
        raise InvalidDmRequest(
            f"A DM name can be at most {limit} characters; this one has {len(name)}."
        )
    return name


def clean_users(users: Iterable[Any]) -> list[Any]:
    if users is None or isinstance(users, str | bytes):
        raise InvalidDmRequest("users must be a list of user objects.")
    unique: dict[Any, Any] = {}
    for user in users:
        require_saved_user(user)
        unique.setdefault(user.pk, user)
    if not unique:
        raise InvalidDmRequest("A DM needs at least one member.")
    return list(unique.values())


def require_provisionable(users: list[Any]) -> None:
    """A user with no Whop identity and no email can never get one: refuse before writing,
    rather than create a channel that is bound to fail. (An unverified email only waits.)"""
    adapter = get_user_adapter()
    linked = set(
        WhopUserLink.objects.filter(user__in=users, whop_user_id__isnull=False)
        .exclude(whop_user_id="")
        .values_list("user_id", flat=True)
    )
    for user in users:
        if user.pk not in linked and not adapter.get_email(user):
            raise UserNotProvisionable(no_email(user))


def no_email(user: Any) -> str:
    return (
        f"User {user.pk} ({user.get_username()}) has no email address; "
        "Whop needs one to create their account."
    )


def require_saved_user(user: Any) -> None:
    model = get_user_model()
    if not isinstance(user, model) or user.pk is None:
        raise InvalidDmRequest(f"{user!r} is not a saved {model.__name__}.")
    if not model.objects.filter(pk=user.pk).exists():
        raise InvalidDmRequest(f"User {user.pk} does not exist.")


def lock_live_channel(channel: DmChannel) -> DmChannel:
    """Re-read the channel under a row lock (serialises member-cap checks on PostgreSQL)."""
    locked = DmChannel.objects.select_for_update().filter(pk=channel.pk).first()
    if locked is None:
        raise InvalidDmRequest(f"DM channel {channel.pk} does not exist.")
    if locked.status == DmChannel.Status.DELETED:
        raise ChannelDeletedError(f"DM channel {channel.pk} ({locked.key}) was deleted.")
    return locked
