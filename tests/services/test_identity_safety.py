"""dm_bridge gives a Whop identity only for a verified email, and a DM waits for it."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from dm_bridge import services
from dm_bridge.exceptions import EmailNotVerified
from dm_bridge.models import DmChannel, WhopUserLink

pytestmark = pytest.mark.django_db(transaction=True)


def test_ensure_whop_user_refuses_an_unverified_email_before_writing(whop, make_user):
    user = make_user(verified=False)
    with pytest.raises(EmailNotVerified, match="Confirm your email address"):
        services.ensure_whop_user(user)
    assert not WhopUserLink.objects.filter(user=user).exists()
    assert whop.requests() == []


def test_a_dm_with_an_unverified_member_waits_then_opens_once_verified(whop, make_user):
    verified, unverified = make_user(), make_user(verified=False)
    channel = services.open_dm("k", [verified, unverified])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.PENDING  # waiting, not failed
    assert channel.failures == 0 and channel.next_attempt_at is not None
    assert "confirm their email" in channel.last_error
    assert whop.requests("dm_channels.create") == []

    EmailAddress.objects.create(
        user=unverified, email=unverified.email, verified=True, primary=True
    )
    DmChannel.objects.filter(pk=channel.pk).update(next_attempt_at=timezone.now())
    assert services.drive_channel(channel.pk) == "done"
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE and channel.whop_channel_id


def test_bulk_sync_reports_unverified_users_as_failed_with_the_reason(whop, make_user):
    user = make_user(verified=False)
    link = WhopUserLink.objects.create(user=user, next_attempt_at=timezone.now())
    assert services.drive_user_link(link.pk) == "failed"
    link.refresh_from_db()
    assert link.status == WhopUserLink.Status.FAILED
    assert link.last_error == "Confirm your email address to use messages."
    assert whop.requests() == []


def test_an_already_linked_user_keeps_working(whop, make_user):
    user = make_user()
    services.ensure_whop_user(user)
    EmailAddress.objects.filter(user=user).update(verified=False)
    assert services.ensure_whop_user(user).status == WhopUserLink.Status.ACTIVE
