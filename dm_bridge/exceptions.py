"""The root of every exception dm_bridge raises, so callers can catch ``DmBridgeError`` once."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class DmBridgeError(Exception):
    """Base class for all dm_bridge errors."""


class DmBridgeConfigurationError(DmBridgeError, ImproperlyConfigured):
    """dm_bridge is misconfigured (missing API key, company ID, …)."""


class InvalidDmRequest(DmBridgeError, ValueError):
    """A service was called with input it cannot act on (empty member list, over-long key, …).

    Raised before anything is written or any Whop call is made.
    """


class MemberLimitExceeded(InvalidDmRequest):
    """The channel would have more members than Whop allows (``DM_BRIDGE['MAX_MEMBERS']``, 50)."""


class UserNotProvisionable(InvalidDmRequest):
    """A user cannot get a Whop identity (e.g. no email address to enrol them with)."""


class EmailNotVerified(UserNotProvisionable):
    """The user's email address is not verified yet, so they cannot get a Whop identity.

    Not permanent: once the site verifies the address, the same call succeeds.
    """


class ChannelDeletedError(InvalidDmRequest):
    """The channel was deleted; it cannot be changed or deleted again."""


class RowBusy(DmBridgeError):
    """Another worker holds the lease on this row; try again shortly."""

    retryable = True

    def __init__(self, what: str, retry_after: float = 2.0) -> None:
        self.retry_after = retry_after
        super().__init__(f"{what} is being worked on by another worker")
