"""Issue 10, item 12: staff join a shop only by accepting an invitation.

Owners invite a username or an email address; the answer never tells whether an account
exists; the invitee accepts or declines with a CSRF-protected POST; owners withdraw pending
invitations; invitations expire.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dm_bridge.models import DmMember
from marketplace import services
from marketplace.models import ShopStaff, StaffInvitation

pytestmark = pytest.mark.django_db
SAME_ANSWER = "If that account exists, they will see your invitation."


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def invite(shop, recipient: str):
    return logged_in(shop.owner).post(
        reverse("shop-staff", args=[shop.slug]), {"recipient": recipient}, follow=True
    )


def respond(client: Client, invitation: StaffInvitation, action: str):
    return client.post(
        reverse("invitation-respond", args=[invitation.pk]), {"action": action}, follow=True
    )


def test_inviting_answers_the_same_whether_or_not_the_account_exists(shop, make_user):
    make_user("dana")
    pages = {}
    for name in ("dana", "ghost"):
        pages[name] = invite(shop, name).content.decode()
        StaffInvitation.objects.update(status=StaffInvitation.Status.REVOKED)  # one row per page
    for name, page in pages.items():
        assert SAME_ANSWER in page and name in page  # listed as pending either way
    # The pages differ only in the name typed (and in CSRF tokens and row IDs).
    unstable = r'value="[^"]{20,}"|/invitations/\d+/'
    main = {n: re.sub(unstable, "", p.split("<main", 1)[1]) for n, p in pages.items()}
    assert main["dana"].replace("dana", "X") == main["ghost"].replace("ghost", "X")
    assert not ShopStaff.objects.filter(user__username="dana").exists()  # not before accepting


def test_the_invitee_accepts_on_my_shops_and_joins_the_shops_dms(shop, buyer, make_user):
    conversation = services.message_seller(
        buyer, shop.listings.create(title="T", price=1), "http://x/"
    )
    dana = make_user("dana")
    invite(shop, "Dana")  # usernames match case-insensitively
    invitation = StaffInvitation.objects.get()
    client = logged_in(dana, enforce_csrf_checks=True)
    page = client.get(reverse("my-shops")).content.decode()
    assert "Bob&#x27;s Bikes" in page and 'value="accept"' in page
    assert client.post(reverse("invitation-respond", args=[invitation.pk])).status_code == 403

    accepted = respond(logged_in(dana), invitation, "accept")
    assert "now on Bob&#x27;s Bikes&#x27;s team" in accepted.content.decode()
    assert shop.staff.filter(pk=dana.pk).exists()
    assert DmMember.objects.filter(channel=conversation.channel, user=dana).exists()
    assert respond(logged_in(dana), invitation, "accept").status_code == 404  # used up


def test_others_cannot_answer_someone_elses_invitation(shop, make_user):
    make_user("dana")
    invite(shop, "dana")
    invitation = StaffInvitation.objects.get()
    mallory = make_user("mallory")
    assert respond(logged_in(mallory), invitation, "accept").status_code == 404
    assert not shop.staff.filter(pk=mallory.pk).exists()


def test_decline_revoke_and_expiry(shop, make_user):
    dana = make_user("dana")
    invite(shop, "dana")
    first = StaffInvitation.objects.get()
    respond(logged_in(dana), first, "decline")
    assert StaffInvitation.objects.get(pk=first.pk).status == StaffInvitation.Status.DECLINED

    invite(shop, "dana")
    second = StaffInvitation.objects.get(status=StaffInvitation.Status.PENDING)
    revoke = reverse("shop-invitation-revoke", args=[shop.slug, second.pk])
    assert logged_in(dana).post(revoke).status_code == 404  # only the owner withdraws
    logged_in(shop.owner).post(revoke)
    assert StaffInvitation.objects.get(pk=second.pk).status == StaffInvitation.Status.REVOKED
    assert respond(logged_in(dana), second, "accept").status_code == 404

    invite(shop, "dana")
    third = StaffInvitation.objects.get(status=StaffInvitation.Status.PENDING)
    StaffInvitation.objects.filter(pk=third.pk).update(expires_at=timezone.now() - timedelta(1))
    assert "invites you" not in logged_in(dana).get(reverse("my-shops")).content.decode()
    assert respond(logged_in(dana), third, "accept").status_code == 404
    assert not shop.staff.filter(pk=dana.pk).exists()


def test_an_email_invitation_is_a_link_that_the_signed_in_recipient_accepts(
    shop, make_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        page = invite(shop, "new.helper@example.com").content.decode()
    assert SAME_ANSWER in page
    (message,) = mail.outbox
    assert message.to == ["new.helper@example.com"]
    link = re.search(r"http://testserver(/invitations/\S+/)", message.body).group(1)
    assert StaffInvitation.objects.get().token_hash not in link  # only a hash is stored

    helper = make_user("helper")
    client = logged_in(helper)
    assert "Join Bob&#x27;s Bikes's team?" in client.get(link).content.decode()
    client.post(link, {"action": "accept"})
    assert shop.staff.filter(pk=helper.pk).exists()
    assert client.get(link).status_code == 404  # used
    assert logged_in(helper).get("/invitations/not-a-token/").status_code == 404


def test_no_one_joins_a_shop_without_an_invitation(shop, make_user):
    # The old form added any username at once; the staff page now only invites.
    make_user("dana")
    invite(shop, "dana")
    assert not shop.staff.filter(username="dana").exists()
    assert not hasattr(services, "add_staff")
