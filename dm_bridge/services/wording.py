"""Error wording for admins: what a failure means and what to do about it.

The admin, ``last_error`` on every row and the management commands show these sentences,
so one function words each Whop error the same way everywhere.
"""

from __future__ import annotations

import logging

from ..whop import WhopError

logger = logging.getLogger("dm_bridge")


def describe_error(exc: BaseException) -> str:
    """An admin-readable reason for a failure, with what to do about it."""
    if isinstance(exc, WhopError):
        status = exc.status
        said = exc.message.rstrip(". ")  # Whop's own text, without its final full stop
        if status == 401:
            return (
                f"Whop rejected the API key ({said}). Check DM_BRIDGE['API_KEY'] and that "
                "BASE_URL is the key's environment (production vs sandbox)."
            )
        if status == 403:
            return f"The API key lacks a permission for this call: {said}. Grant it on Whop, then retry."
        if status == 404:
            return f"Whop does not know this object: {said}."
        if status in (400, 422):
            return f"Whop refused the request as invalid: {said}."
        # What happened only: whether it is retried shows in status and "waiting for Whop since".
        if status == 408:
            return f"Whop timed out waiting for the request ({said})."
        if status == 409:
            return f"Whop reported a conflict with the object's current state: {said}."
        if status == 429:
            return f"Rate limited by Whop (asked to wait {exc.retry_after or 1:.0f}s)."
        if status and status >= 500:
            return f"Whop had a server error ({status}: {said})."
        if exc.ambiguous:
            return (
                f"Whop did not answer in time ({said}); the call may have gone through, "
                "so a retry first looks for its result on Whop."
            )
        return f"Could not reach Whop: {said}."
    return str(exc)
