"""The dm_bridge_* management commands, against the Whop emulator over HTTP."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from dm_bridge import services
from dm_bridge.exceptions import UserNotProvisionable
from dm_bridge.models import DmChannel, WhopUserLink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("whop")]


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(name: str, *args: str) -> tuple[str, str, CommandError]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as info:
        call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), info.value


def active_links() -> int:
    return WhopUserLink.objects.filter(status=WhopUserLink.Status.ACTIVE).count()


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("dm_bridge_sync_users", ["--enqueue", "--batch-size", "--limit", "--user-id"]),
        ("dm_bridge_reconcile", ["--channel", "--key", "--status", "--limit"]),
        ("dm_bridge_retry_failed", ["--channels", "--users", "--older-than"]),
    ],
)
def test_help_lists_the_options(command: str, options: list[str]) -> None:
    text = (
        load_command_class("dm_bridge", command).create_parser("manage.py", command).format_help()
    )
    for option in options:
        assert option in text


# --- dm_bridge_sync_users -----------------------------------------------------------------------


def test_sync_users_links_everyone_with_progress_then_skips_them(
    make_user: Any, emulator: Any
) -> None:
    users = [make_user(f"u{i}") for i in range(5)]
    out, err = run("dm_bridge_sync_users", "--batch-size", "2")
    assert err == ""
    assert "Linking 5 users without an active Whop link" in out
    progress = re.findall(r"^\[(\d+)/5\] linked (\d+), failed (\d+), [\d.]+/s$", out, re.MULTILINE)
    assert progress == [("2", "2", "0"), ("4", "4", "0"), ("5", "5", "0")]
    assert active_links() == 5
    assert len(emulator.requests("accounts.create")) == 5
    for user in users:
        assert user.whop_link.whop_user_id.startswith("user_")

    out, _ = run("dm_bridge_sync_users")
    assert "Nothing to do" in out
    assert len(emulator.requests("accounts.create")) == 5  # resumable: nothing linked twice


def test_sync_users_reports_a_user_without_email_and_fails(make_user: Any, emulator: Any) -> None:
    make_user("ann")
    nomail = make_user("nomail", email=None)
    make_user("cid")
    out, err, error = run_failing("dm_bridge_sync_users")
    assert f"user {nomail.pk} (nomail)" in err and "has no email address" in err
    assert "[3/3] linked 2, failed 1" in out
    assert "1 user could not be linked" in str(error)
    assert active_links() == 2
    assert WhopUserLink.objects.get(user=nomail).status == WhopUserLink.Status.FAILED

    # Re-running only retries the one left; once it has an email it goes through.
    out, err, _ = run_failing("dm_bridge_sync_users")
    assert "[1/1] linked 0, failed 1" in out
    nomail.email = "nomail@example.com"
    nomail.save()
    EmailAddress.objects.create(user=nomail, email=nomail.email, verified=True)
    out, err = run("dm_bridge_sync_users")
    assert "[1/1] linked 1, failed 0" in out
    assert active_links() == 3


def test_sync_users_limit_and_user_ids(make_user: Any, emulator: Any) -> None:
    users = [make_user(f"v{i}") for i in range(4)]
    out, _ = run("dm_bridge_sync_users", "--limit", "2")
    assert "[2/2] linked 2" in out
    assert set(WhopUserLink.objects.values_list("user_id", flat=True)) == {u.pk for u in users[:2]}

    out, _ = run("dm_bridge_sync_users", "--user-id", str(users[3].pk))
    assert "[1/1] linked 1" in out
    assert WhopUserLink.objects.filter(user=users[3], status="active").exists()

    out, _ = run("dm_bridge_sync_users")  # continues with the one left
    assert "[1/1] linked 1" in out
    assert active_links() == 4


def test_sync_users_retryable_whop_error_is_reported(make_user: Any, emulator: Any) -> None:
    make_user("flaky")
    emulator.add_fault("accounts.create", status=503, times=1)
    out, err, _ = run_failing("dm_bridge_sync_users")
    assert "Whop had a server error (503" in err and "(will be retried)" in err
    out, err = run("dm_bridge_sync_users")  # the next run picks it up
    assert "linked 1, failed 0" in out
    # After an ambiguous 5xx the account is looked up before creating again: still one account.
    assert len([r for r in emulator.requests("accounts.create") if r["status"] == 200]) == 1


def test_sync_users_enqueue_hands_links_to_workers(
    make_user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, emulator: Any
) -> None:
    from dm_bridge import tasks

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        tasks.drive_user_link, "apply_async", lambda args, **kw: sent.append(tuple(args))
    )
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "TASKS_ENABLED": True}
    users = [make_user(f"w{i}") for i in range(3)]
    out, _ = run("dm_bridge_sync_users", "--enqueue")
    assert "[3/3] enqueued 3 (3 new links)" in out
    assert "Enqueued 3 users" in out
    links = WhopUserLink.objects.filter(user__in=users)
    assert sorted(sent) == sorted((link.pk,) for link in links)
    assert all(link.status == "pending" and link.next_attempt_at for link in links)
    assert emulator.requests("accounts.create") == []  # nothing ran here
    assert services.sweep()["user_links"] == 3  # and the sweeper would find them too


def test_sync_users_enqueue_with_tasks_off_runs_inline(make_user: Any) -> None:
    make_user("x1")
    make_user("x2")
    out, _ = run("dm_bridge_sync_users", "--enqueue")
    assert "the work ran here: 2 active" in out
    assert active_links() == 2


# --- dm_bridge_reconcile --------------------------------------------------------------------------


@pytest.fixture
def channel(make_user: Any) -> DmChannel:
    channel = services.open_dm("shop:5/buyer:6", [make_user("seller"), make_user("buyer")])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE
    return channel


def test_reconcile_reports_each_channel_and_a_summary(
    channel: DmChannel, whop_api: Any, make_user: Any
) -> None:
    pending = DmChannel.objects.create(company_id="biz_emulator", key="never-created")
    out, _ = run("dm_bridge_reconcile")
    assert f"channel {channel.pk} 'shop:5/buyer:6' ({channel.whop_channel_id}): in sync" in out
    assert "never-created" not in out  # by default only channels that are on Whop
    assert (
        "Reconciled 1 channel: 1 in sync, 0 with repairs queued, 0 not on Whop (skipped), 0 errors."
        in out
    )

    out, _ = run("dm_bridge_reconcile", "--channel", str(pending.pk), "--key", "shop:5/buyer:6")
    assert "not on Whop yet" in out and "1 in sync" in out and "1 not on Whop (skipped)" in out

    old_id = channel.whop_channel_id
    whop_api.delete(f"/dm_channels/{old_id}")
    out, _ = run("dm_bridge_reconcile", "--channel", old_id)
    assert "is gone on Whop; it will be recreated" in out and "1 with repairs queued" in out
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE and channel.whop_channel_id != old_id

    out, _ = run("dm_bridge_reconcile", "--status", "failed")
    assert "No channels match." in out


def test_reconcile_unknown_channel_exits_non_zero(channel: DmChannel, emulator: Any) -> None:
    before = len(emulator.requests())
    out, _, error = run_failing(
        "dm_bridge_reconcile", "--channel", "feed_nope", "--key", channel.key
    )
    assert "No DM channel matches 'feed_nope'" in str(error)
    assert out == ""  # nothing reconciled: the mistake is reported first
    assert len(emulator.requests()) == before
    _, _, error = run_failing("dm_bridge_reconcile", "--channel", "999999", "--key", "nope")
    assert "'999999', 'nope'" in str(error)


def test_reconcile_errors_exit_non_zero(channel: DmChannel, emulator: Any) -> None:
    emulator.add_fault("dm_channels.retrieve", status=500)
    out, err, error = run_failing("dm_bridge_reconcile", "--key", channel.key)
    assert "Whop had a server error (500" in err
    assert "1 errors" in out
    assert "1 channel could not be reconciled" in str(error)


# --- dm_bridge_retry_failed ----------------------------------------------------------------------


def test_retry_failed_channels_and_users(make_user: Any, emulator: Any) -> None:
    ann, bo = make_user("ann"), make_user("bo")
    emulator.add_fault("dm_channels.create", status=403, times=1)
    channel = services.open_dm("shop:7/buyer:8", [ann, bo])
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED
    nomail = make_user("nomail", email=None)
    with pytest.raises(UserNotProvisionable):
        services.ensure_whop_user(nomail)

    out, _ = run("dm_bridge_retry_failed", "--dry-run")
    assert "Would retry 1 channel and 1 user link." in out
    assert "lacks a permission" in out
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.FAILED

    out, _ = run("dm_bridge_retry_failed", "--older-than", "60")
    assert "Retried 0 channels and 0 user links." in out

    nomail.email = "nomail@example.com"
    nomail.save()

    EmailAddress.objects.create(user=nomail, email=nomail.email, verified=True)
    out, _ = run("dm_bridge_retry_failed")
    assert "Retried 1 channel and 1 user link." in out
    assert "1 channel retried here (TASKS_ENABLED is off); now: 1 active" in out
    assert "1 user link retried here (TASKS_ENABLED is off); now: 1 active" in out
    channel.refresh_from_db()
    assert channel.status == DmChannel.Status.ACTIVE
    assert WhopUserLink.objects.get(user=nomail).status == WhopUserLink.Status.ACTIVE

    out, _ = run("dm_bridge_retry_failed", "--channels")
    assert out.strip() == "Retried 0 channels."


def test_retry_failed_users_only(make_user: Any) -> None:
    nomail = make_user("nomail", email=None)
    with pytest.raises(UserNotProvisionable):
        services.ensure_whop_user(nomail)
    out, _ = run("dm_bridge_retry_failed", "--users")
    assert "Retried 1 user link." in out
    assert "now: 1 failed" in out  # still no email: it fails again, with the reason on the row
