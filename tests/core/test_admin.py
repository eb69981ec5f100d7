"""The operator admin: every page renders, and every action repairs through dm_bridge.services.

These tests commit for real (``transaction=True``) so the work services enqueue on commit runs
inline (``TASKS_ENABLED`` off) against the Whop emulator over HTTP, as it would in a request.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from dm_bridge import services
from dm_bridge.exceptions import UserNotProvisionable
from dm_bridge.models import DmChannel, DmMember, DmOutboxMessage, WhopUserLink

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("whop"),
]

MODELS = ("dmchannel", "whopuserlink", "dmmember", "dmoutboxmessage")


def changelist(model: str) -> str:
    return reverse(f"admin:dm_bridge_{model}_changelist")


def change(model: str, pk: Any) -> str:
    return reverse(f"admin:dm_bridge_{model}_change", args=[pk])


def run_action(client: Any, action: str, rows: list[Any], **extra: str) -> Any:
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(r.pk) for r in rows], **extra}
    return client.post(changelist(type(rows[0])._meta.model_name), data)


def texts(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def alice(make_user: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob")


@pytest.fixture
def active_channel(alice: Any, bob: Any) -> DmChannel:
    channel = services.open_dm(
        "shop:1/buyer:2",
        [alice, bob],
        custom_name="Lamp",
        host=bob,
        context_message="About: a lamp",
        context_key="listing:1",
    )
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE, channel.last_error
    return channel


@pytest.fixture
def failed_channel(emulator: Any, alice: Any, bob: Any) -> DmChannel:
    """A channel whose create was refused for good (403) on its first and only attempt."""
    creates_before = len(emulator.requests("dm_channels.create"))
    emulator.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("shop:9/buyer:9", [alice, bob])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED
    assert len(emulator.requests("dm_channels.create")) == creates_before + 1
    return channel


# --- every page renders -------------------------------------------------------------------------


def test_every_changelist_and_add_page_when_empty(admin_client: Any) -> None:
    for model in MODELS:
        assert admin_client.get(changelist(model)).status_code == 200, model
        # Rows are created through services only.
        assert admin_client.get(reverse(f"admin:dm_bridge_{model}_add")).status_code == 403


def test_every_page_renders_with_data(
    admin_client: Any, active_channel: DmChannel, failed_channel: DmChannel
) -> None:
    member = DmMember.objects.filter(channel=active_channel).first()
    link = WhopUserLink.objects.get(user__username="alice")
    message = DmOutboxMessage.objects.get(channel=active_channel)
    rows = {
        "dmchannel": active_channel,
        "whopuserlink": link,
        "dmmember": member,
        "dmoutboxmessage": message,
    }
    for model, row in rows.items():
        page = admin_client.get(changelist(model))
        assert page.status_code == 200, model
        assert admin_client.get(change(model, row.pk)).status_code == 200, model

    page = admin_client.get(changelist("dmchannel")).content.decode()
    assert active_channel.whop_channel_id in page
    assert "Failed" in page and "Active" in page  # status badges
    # The host column links to the host's own admin page (here: the auth user).
    assert reverse("admin:auth_user_change", args=[active_channel.host_object_id]) in page

    detail = admin_client.get(change("dmchannel", active_channel.pk)).content.decode()
    assert "alice" in detail and "bob" in detail  # members inline
    assert "About: a lamp" in detail  # outbox inline
    assert 'name="custom_name"' in detail  # the one editable field


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("dmchannel", {"q": "alice"}),
        ("dmchannel", {"q": "alice@example.com"}),
        ("dmchannel", {"q": "shop:1"}),
        ("dmchannel", {"status__exact": "failed"}),
        ("dmchannel", {"needs_reconcile__exact": "0"}),
        ("dmchannel", {"company_id": "biz_emulator"}),
        ("dmchannel", {"created_at__year": str(timezone.now().year)}),
        ("whopuserlink", {"q": "bob"}),
        ("whopuserlink", {"status__exact": "active"}),
        ("dmmember", {"q": "shop:1"}),
        ("dmmember", {"status__exact": "active"}),
        ("dmoutboxmessage", {"q": "listing"}),
        ("dmoutboxmessage", {"status__exact": "sent"}),
    ],
)
def test_search_and_filters(
    admin_client: Any, active_channel: DmChannel, model: str, params: dict[str, str]
) -> None:
    response = admin_client.get(changelist(model), params)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= (0 if "status__exact" in params else 1)


def test_search_by_whop_ids(admin_client: Any, active_channel: DmChannel) -> None:
    link = WhopUserLink.objects.get(user__username="alice")
    for query, expected in [
        (active_channel.whop_channel_id, 1),
        (link.whop_user_id, 1),
        ("nobody-has-this", 0),
    ]:
        response = admin_client.get(changelist("dmchannel"), {"q": query})
        assert response.context["cl"].result_count == expected, query
    response = admin_client.get(changelist("whopuserlink"), {"q": link.whop_user_id})
    assert response.context["cl"].result_count == 1


def test_plain_delete_is_not_offered(admin_client: Any, active_channel: DmChannel) -> None:
    actions = (
        admin_client.get(changelist("dmchannel")).context["action_form"].fields["action"].choices
    )
    names = [name for name, _ in actions]
    assert "delete_selected" not in names
    assert {"retry_now", "reconcile_with_whop", "delete_here_and_on_whop"} <= set(names)
    for model in ("whopuserlink", "dmmember", "dmoutboxmessage"):
        choices = (
            admin_client.get(changelist(model)).context["action_form"].fields["action"].choices
        )
        assert "delete_selected" not in [name for name, _ in choices]


# --- Retry now ----------------------------------------------------------------------------------


def test_retry_after_a_permanent_failure(
    admin_client: Any, emulator: Any, failed_channel: DmChannel
) -> None:
    assert len(emulator.requests("dm_channels.create")) == 1  # exactly one attempt, no retries
    # One attempt, a readable reason, visible to the operator.
    assert failed_channel.attempts == 1
    assert "lacks a permission" in failed_channel.last_error
    detail = admin_client.get(change("dmchannel", failed_channel.pk)).content.decode()
    assert "lacks a permission" in detail and "Grant it on Whop, then retry" in detail

    response = run_action(admin_client, "retry_now", [failed_channel])
    assert response.status_code == 302

    failed_channel.refresh_from_db()
    assert failed_channel.status == DmChannel.Status.ACTIVE
    assert failed_channel.whop_channel_id.startswith("feed_")
    assert failed_channel.failures == 0
    assert len(emulator.requests("dm_channels.create")) == 2
    assert set(failed_channel.members.values_list("status", flat=True)) == {DmMember.Status.ACTIVE}
    assert "Retried 1 DM channel (1 active)." in texts(response)


def test_retry_user_link_after_missing_email(
    admin_client: Any, make_user: Any, emulator: Any
) -> None:
    carol = make_user("carol", email=None)
    with pytest.raises(UserNotProvisionable):
        services.ensure_whop_user(carol)
    link = WhopUserLink.objects.get(user=carol)
    assert link.status == WhopUserLink.Status.FAILED
    assert "no email address" in admin_client.get(changelist("whopuserlink")).content.decode()

    carol.email = "carol@example.com"
    carol.save()
    EmailAddress.objects.create(user=carol, email=carol.email, verified=True)
    response = run_action(admin_client, "retry_now", [link])
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.status == WhopUserLink.Status.ACTIVE
    assert link.whop_user_id.startswith("user_")


def test_retry_from_member_and_outbox_lists(
    admin_client: Any, emulator: Any, active_channel: DmChannel
) -> None:
    emulator.add_fault("messages.create", status=403, times=1)
    message = services.post_message(active_channel, "Price dropped", dedupe_key="price:1")
    message.refresh_from_db()
    assert message.status == DmOutboxMessage.Status.FAILED

    response = run_action(admin_client, "retry_channel", [message])
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == DmOutboxMessage.Status.SENT

    member = active_channel.members.first()
    assert run_action(admin_client, "retry_channel", [member]).status_code == 302


# --- Reconcile with Whop --------------------------------------------------------------------------


def test_reconcile_in_sync_and_after_whop_lost_the_channel(
    admin_client: Any, whop_api: Any, active_channel: DmChannel
) -> None:
    response = run_action(admin_client, "reconcile_with_whop", [active_channel])
    assert f"{active_channel}: in sync" in texts(response)

    old_id = active_channel.whop_channel_id
    assert whop_api.delete(f"/dm_channels/{old_id}").status_code == 200
    response = run_action(admin_client, "reconcile_with_whop", [active_channel])
    assert any(f"{old_id} is gone on Whop; it will be recreated" in m for m in texts(response))

    # The repair is queued (due now); the sweeper (or the inline run) recreates the channel.
    services.sweep()
    active_channel.refresh_from_db()
    assert active_channel.status == DmChannel.Status.ACTIVE
    assert active_channel.whop_channel_id and active_channel.whop_channel_id != old_id
    assert whop_api.get(f"/dm_channels/{active_channel.whop_channel_id}").status_code == 200


def test_reconcile_busy_row_is_a_warning(admin_client: Any, active_channel: DmChannel) -> None:
    DmChannel.objects.filter(pk=active_channel.pk).update(
        lease_until=timezone.now() + timedelta(minutes=1), lease_token="someone-else"
    )
    response = run_action(admin_client, "reconcile_with_whop", [active_channel])
    assert any("being worked on by another worker" in m for m in texts(response))


def test_reconcile_whop_error_is_a_warning(
    admin_client: Any, emulator: Any, active_channel: DmChannel
) -> None:
    emulator.add_fault("dm_channels.retrieve", status=401)
    response = run_action(admin_client, "reconcile_with_whop", [active_channel])
    assert any("Whop rejected the API key" in m for m in texts(response))


# --- Delete channel (here and on Whop) ---------------------------------------------------------------


def test_delete_action_confirms_then_deletes_on_whop(
    admin_client: Any, whop_api: Any, active_channel: DmChannel, failed_channel: DmChannel
) -> None:
    whop_id = active_channel.whop_channel_id
    page = run_action(admin_client, "delete_here_and_on_whop", [active_channel, failed_channel])
    assert page.status_code == 200
    assert "admin/dm_bridge/dmchannel/delete_confirmation.html" in [t.name for t in page.templates]
    html = page.content.decode()
    assert "shop:1/buyer:2" in html and "shop:9/buyer:9" in html and whop_id in html
    active_channel.refresh_from_db()
    assert active_channel.status == DmChannel.Status.ACTIVE  # nothing happened yet

    response = run_action(
        admin_client, "delete_here_and_on_whop", [active_channel, failed_channel], post="yes"
    )
    assert response.status_code == 302
    assert any("Deleted 2 DM channels" in m for m in texts(response))
    active_channel.refresh_from_db()
    assert active_channel.status == DmChannel.Status.DELETED
    assert active_channel.deleted_on_whop
    assert whop_api.get(f"/dm_channels/{whop_id}").status_code == 404

    # Deleting again only says so.
    response = run_action(admin_client, "delete_here_and_on_whop", [active_channel], post="yes")
    assert any("was already deleted" in m for m in texts(response))
    page = run_action(admin_client, "delete_here_and_on_whop", [active_channel])
    assert "Nothing to delete" in page.content.decode()


def test_delete_from_the_change_page(
    admin_client: Any, whop_api: Any, active_channel: DmChannel
) -> None:
    url = reverse("admin:dm_bridge_dmchannel_delete", args=[active_channel.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "on Whop, with all their messages" in page.content.decode()
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302 and response.url == changelist("dmchannel")
    active_channel.refresh_from_db()
    assert active_channel.status == DmChannel.Status.DELETED
    assert whop_api.get(f"/dm_channels/{active_channel.whop_channel_id}").status_code == 404
    assert DmChannel.objects.filter(pk=active_channel.pk).exists()  # the row stays, as a record


# --- editing ------------------------------------------------------------------------------------------


def test_rename_goes_through_services(
    admin_client: Any, whop_api: Any, active_channel: DmChannel
) -> None:
    url = change("dmchannel", active_channel.pk)
    form_page = admin_client.get(url)
    data: dict[str, Any] = {"custom_name": "Lamp (sold)"}
    for formset in form_page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name, field in management.fields.items():
            data[f"{management.prefix}-{name}"] = management.initial.get(name, field.initial)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    active_channel.refresh_from_db()
    assert active_channel.custom_name == "Lamp (sold)"
    assert active_channel.whop_name == "Lamp (sold)"
    remote = whop_api.get(f"/dm_channels/{active_channel.whop_channel_id}").json()
    assert remote["name"] == "Lamp (sold)"


# --- CSRF: the real browser path --------------------------------------------------------------


def test_delete_flow_with_csrf_enforced(
    admin_user: Any, whop_api: Any, active_channel: DmChannel
) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    def token(page: Any) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        assert found, "the page has no CSRF token"
        return found.group(1)

    listing = client.get(changelist("dmchannel"))
    data = {"action": "delete_here_and_on_whop", ACTION_CHECKBOX_NAME: [str(active_channel.pk)]}
    assert client.post(changelist("dmchannel"), data).status_code == 403  # no token, no action
    confirm = client.post(changelist("dmchannel"), {**data, "csrfmiddlewaretoken": token(listing)})
    assert confirm.status_code == 200
    done = client.post(
        changelist("dmchannel"), {**data, "post": "yes", "csrfmiddlewaretoken": token(confirm)}
    )
    assert done.status_code == 302
    active_channel.refresh_from_db()
    assert active_channel.status == DmChannel.Status.DELETED
    assert whop_api.get(f"/dm_channels/{active_channel.whop_channel_id}").status_code == 404


def test_retrying_a_linked_user_does_nothing(admin_client: Any, active_channel: DmChannel) -> None:
    link = WhopUserLink.objects.get(user__username="alice")
    response = run_action(admin_client, "retry_now", [link])
    assert "1 already linked to Whop; nothing to retry for them." in texts(response)
    link.refresh_from_db()
    assert link.status == WhopUserLink.Status.ACTIVE and link.next_attempt_at is None


def test_a_channel_waiting_for_whop_shows_since_when(
    admin_client: Any, make_user: Any, emulator: Any
) -> None:
    emulator.add_fault("dm_channels.create", status=503)
    channel = services.open_dm("shop:1/buyer:9", [make_user(), make_user()])
    channel.refresh_from_db()
    since = timezone.localtime(channel.waiting_since)
    shown = f"since {since:%Y-%m-%d %H:%M}"
    assert shown in admin_client.get(changelist("dmchannel")).content.decode()
    page = admin_client.get(change("dmchannel", channel.pk)).content.decode()
    assert "Waiting for Whop since" in page and "Whop had a server error (503" in page
