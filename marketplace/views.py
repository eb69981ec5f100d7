"""Pages. Thin: load, check access, call marketplace.services, render or redirect."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from dm_bridge import services as dm_services
from dm_bridge.exceptions import DmBridgeError
from dm_bridge.models import DmMember
from dm_bridge.unread import unread_per_channel

from . import services
from .forms import (
    ListingForm,
    ReminderSettingsForm,
    ReportForm,
    SearchForm,
    ShopForm,
    StaffInvitationForm,
)
from .models import Conversation, Listing, Shop, ShopNameTaken, StaffInvitation

PAGE_SIZE = 12
REPORT_PICKER_SIZE = 10  # latest messages offered on the report form


def home(request):
    form = SearchForm(request.GET or None)
    listings = Listing.objects.select_related("shop")
    query = ""
    if form.is_valid():
        query = form.cleaned_data["q"].strip()
        if not form.cleaned_data["include_sold"]:
            listings = listings.filter(status=Listing.Status.ACTIVE)
    else:
        listings = listings.filter(status=Listing.Status.ACTIVE)
    if query:
        listings = listings.filter(
            Q(title__icontains=query)
            | Q(description__icontains=query)
            | Q(shop__name__icontains=query)
        )
    page = Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "marketplace/home.html", {"form": form, "page": page, "query": query})


def listing_detail(request, pk: int):
    listing = get_object_or_404(Listing.objects.select_related("shop__owner"), pk=pk)
    conversation = None
    if request.user.is_authenticated:
        conversation = Conversation.objects.filter(buyer=request.user, shop=listing.shop).first()
    return render(
        request,
        "marketplace/listing_detail.html",
        {
            "listing": listing,
            "is_team": listing.shop.is_team_member(request.user),
            "conversation": conversation,
            "response_badge": dm_services.response_badge(listing.shop),
        },
    )


@login_required
@require_POST
def listing_message(request, pk: int):
    listing = get_object_or_404(Listing.objects.select_related("shop"), pk=pk)
    try:
        conversation = services.message_seller(
            request.user, listing, request.build_absolute_uri(listing.get_absolute_url())
        )
    except services.LimitReached as exc:
        return render(
            request,
            "marketplace/limit_reached.html",
            {"message": str(exc), "back": listing.get_absolute_url()},
            status=429,
        )
    except services.MarketplaceError as exc:
        messages.error(request, str(exc))
        return redirect(listing)
    return redirect(conversation)


@login_required
@require_POST
def listing_status(request, pk: int):
    listing = get_object_or_404(Listing.objects.select_related("shop"), pk=pk)
    if not listing.shop.is_team_member(request.user):
        raise Http404
    new = request.POST.get("status")
    if new not in Listing.Status.values:
        messages.error(request, "Choose “For sale” or “Sold”.")
    else:
        listing.status = new
        listing.save(update_fields=["status", "updated_at"])
        messages.success(
            request, f"“{listing.title}” is now marked {listing.get_status_display().lower()}."
        )
    return redirect(listing)


@login_required
def listing_create(request, slug: str):
    shop = _team_shop(request, slug)
    form = ListingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        listing = form.save(commit=False)
        listing.shop = shop
        listing.save()
        messages.success(request, "Listing published.")
        return redirect(listing)
    return render(request, "marketplace/listing_form.html", {"form": form, "shop": shop})


def shop_detail(request, slug: str):
    shop = get_object_or_404(Shop.objects.select_related("owner"), slug=slug)
    listings = shop.listings.all()
    if not shop.is_team_member(request.user):
        listings = listings.filter(status=Listing.Status.ACTIVE)
    page = Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/shop_detail.html",
        {
            "shop": shop,
            "page": page,
            "is_team": shop.is_team_member(request.user),
            "team": shop.team(),
            "response_badge": dm_services.response_badge(shop),
            **_shop_blocks(request, shop),
        },
    )


def _shop_blocks(request, shop: Shop) -> dict:
    """Block state for the shop page: the buyer's own block of this shop; for the team, the
    conversations the shop closed by blocking their buyers (where to unblock them)."""
    if not request.user.is_authenticated:
        return {}
    if shop.is_team_member(request.user):
        blocked = [b.blocked_id for b in dm_services.blocks_by([shop])]
        closed = shop.conversations.filter(buyer_id__in=blocked).select_related("buyer")
        return {"blocked_conversations": closed}
    return {"shop_blocked": dm_services.find_block(request.user, shop) is not None}


@login_required
def shop_create(request):
    form = ShopForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            shop = services.open_shop(request.user, form.save(commit=False))
        except ShopNameTaken as exc:
            form.add_error("name", str(exc))
        except services.LimitReached as exc:
            form.add_error(None, str(exc))
            status = 429
        else:
            messages.success(request, "Your shop is open. Add a first listing.")
            return redirect(shop)
    return render(request, "marketplace/shop_form.html", {"form": form}, status=status)


@login_required
def shop_staff(request, slug: str):
    shop = get_object_or_404(Shop, slug=slug, owner=request.user)
    form = StaffInvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invite_staff(
                shop,
                request.user,
                form.cleaned_data["recipient"],
                lambda token: request.build_absolute_uri(reverse("invitation", args=[token])),
            )
        except services.MarketplaceError as exc:
            form.add_error("recipient", str(exc))
        else:
            # The same answer whether or not the account exists.
            messages.success(request, "If that account exists, they will see your invitation.")
            return redirect("shop-staff", slug=shop.slug)
    staff = shop.staff.order_by("shopstaff__added_at")
    invitations = shop.invitations.filter(
        status=StaffInvitation.Status.PENDING, expires_at__gt=timezone.now()
    )
    return render(
        request,
        "marketplace/shop_staff.html",
        {"shop": shop, "form": form, "staff": staff, "invitations": invitations},
    )


@login_required
@require_POST
def shop_invitation_revoke(request, slug: str, pk: int):
    shop = get_object_or_404(Shop, slug=slug, owner=request.user)
    invitation = get_object_or_404(shop.invitations, pk=pk)
    try:
        services.revoke_invitation(invitation)
    except services.MarketplaceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The invitation for {invitation.recipient} was withdrawn.")
    return redirect("shop-staff", slug=shop.slug)


@login_required
@require_POST
def shop_staff_remove(request, slug: str, user_id: int):
    shop = get_object_or_404(Shop, slug=slug, owner=request.user)
    user = get_object_or_404(shop.staff, pk=user_id)
    services.remove_staff(shop, user)
    messages.success(
        request, f"{user.get_username()} was removed from {shop.name} and its conversations."
    )
    return redirect("shop-staff", slug=shop.slug)


@login_required
def my_shops(request):
    owned = Shop.objects.filter(owner=request.user)
    staffed = Shop.objects.filter(staff=request.user)
    invitations = services.pending_invitations_for(request.user)
    return render(
        request,
        "marketplace/my_shops.html",
        {"owned": owned, "staffed": staffed, "invitations": invitations},
    )


@login_required
@require_POST
def invitation_respond(request, pk: int):
    """Accept or decline an invitation to one's own account (listed on "My shops")."""
    invitation = get_object_or_404(services.pending_invitations_for(request.user), pk=pk)
    return _respond_to_invitation(request, invitation)


@login_required
def invitation(request, token: str):
    """The emailed link: shows the invitation; accepting binds it to the signed-in account."""
    found = services.invitation_for_token(token)
    if found is None or not found.is_open or found.invitee_id not in (None, request.user.pk):
        raise Http404  # the same for a wrong, used, expired or someone else's token
    if request.method == "POST":
        return _respond_to_invitation(request, found)
    return render(request, "marketplace/invitation.html", {"invitation": found})


def _respond_to_invitation(request, invitation: StaffInvitation):
    try:
        if request.POST.get("action") == "accept":
            shop = services.accept_invitation(invitation, request.user)
            messages.success(request, f"You are now on {shop.name}'s team.")
        else:
            services.decline_invitation(invitation, request.user)
            messages.success(request, f"You declined the invitation to {invitation.shop.name}.")
    except services.MarketplaceError as exc:
        messages.error(request, str(exc))
    return redirect("my-shops")


@login_required
def inbox(request):
    user = request.user
    # The shops as a subquery, not a join over staff + DISTINCT (which de-duplicates every
    # conversation before the first page can be cut).
    my_shops = Shop.objects.filter(Q(owner=user) | Q(staff=user)).values("pk")
    conversations = Conversation.objects.filter(Q(buyer=user) | Q(shop__in=my_shops))
    # closed by a block
    conversations = conversations.exclude(channel_id__in=dm_services.hidden_channels(user))
    # Archived conversations (dm_bridge's per-member archive) leave the inbox until a new
    # message arrives; ?archived=1 lists them to bring them back.
    archived_view = request.GET.get("archived") == "1"
    archived = DmMember.objects.filter(user=user, archived=True).values("channel_id")
    all_conversations = conversations
    if archived_view:
        conversations = conversations.filter(channel_id__in=archived)
    else:
        conversations = conversations.exclude(channel_id__in=archived)
    try:
        keys, older = _inbox_window(conversations, request.GET.get("before", ""))
    except ValueError:
        return HttpResponseBadRequest("That link to older conversations is not valid.")
    # The window's rows with their joins and the viewer's state, for 50 rows, not for all: only
    # the columns the list shows, as plain values (four model instances a row, and whole rows
    # of four tables before that, were most of the page's cost).
    shown = _with_my_dm_state(Conversation.objects.filter(pk__in=keys), user).order_by(
        "-updated_at", "-pk"
    )
    conversations = _inbox_rows(shown, user)
    # Whether anything is archived matters only to explain an empty inbox. It is not counted:
    # a count reads every archived conversation on every visit (O(n), not one window).
    all_archived = (
        not conversations
        and not archived_view
        and not request.GET.get("before")
        and all_conversations.filter(channel_id__in=archived).exists()
    )
    return render(
        request,
        "marketplace/inbox.html",
        {
            "conversations": conversations,
            "archived_view": archived_view,
            "all_archived": all_archived,
            "older_cursor": older,
            "is_older_page": bool(request.GET.get("before")),
        },
    )


INBOX_PAGE_SIZE = 50  # conversations per inbox page; older ones are one "Older" link away
CURSOR_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(\d{1,18})\.(\d{1,18})")


def _inbox_window(conversations, before: str, size: int = INBOX_PAGE_SIZE):
    """(the keys of one window of ``conversations``, newest first, after the cursor ``before``;
    the cursor of the next, older window or ""). Keyset, not OFFSET + COUNT: every page costs
    the same however many conversations there are. Raises ValueError for a cursor this never
    made. Filter ``conversations`` first (archive, blocks, …): the window is cut from them."""
    ordered = conversations.order_by("-updated_at", "-pk")
    if before:
        match = CURSOR.fullmatch(before)
        if match is None:
            raise ValueError(before)
        try:
            at = CURSOR_EPOCH + timedelta(microseconds=int(match[1]))
        except OverflowError:  # past the year 9999
            raise ValueError(before) from None
        pk = int(match[2])
        ordered = ordered.filter(Q(updated_at__lt=at) | Q(updated_at=at, pk__lt=pk))
    rows = list(ordered.values_list("pk", "updated_at")[: size + 1])
    if len(rows) <= size:
        return [pk for pk, _ in rows], ""
    pk, updated_at = rows[size - 1]
    microseconds = (updated_at - CURSOR_EPOCH) // timedelta(microseconds=1)
    return [pk for pk, _ in rows[:size]], f"{microseconds}.{pk}"


def _with_my_dm_state(conversations, user):
    """The viewer's own mute/archive state of each conversation's DM (False when not a member)."""
    mine = DmMember.objects.filter(channel=OuterRef("channel_id"), user=user)
    return conversations.annotate(
        my_muted=Coalesce(Subquery(mine.values("muted")[:1]), False),
        my_archived=Coalesce(Subquery(mine.values("archived")[:1]), False),
    )


@dataclass(frozen=True)
class InboxRow:
    """One conversation as the inbox lists it: plain values, not four model instances."""

    pk: int
    url: str
    preferences_url: str
    title: str
    listing_title: str
    unread: int
    muted: bool
    archived: bool


def _inbox_rows(shown, user) -> list[InboxRow]:
    """The window's rows: the columns the list shows and the viewer's counts, in two queries."""
    columns = ("pk", "buyer_id", "channel_id", "shop__name", "buyer__username")
    rows = list(shown.values_list(*columns, "listing__title", "my_muted", "my_archived"))
    counts = unread_per_channel(user, [row[2] for row in rows])
    return [
        InboxRow(
            pk=pk,
            url=reverse("conversation-detail", args=[pk]),
            preferences_url=reverse("conversation-preferences", args=[pk]),
            # A buyer sees the shop; the shop's team sees who is asking.
            title=shop if buyer_id == user.pk else f"{buyer} → {shop}",
            listing_title=listing or "",
            unread=counts.get(channel_id, 0),
            muted=muted,
            archived=archived,
        )
        for pk, buyer_id, channel_id, shop, buyer, listing, muted, archived in rows
    ]


PREFERENCE_CHANGES = {
    "mute": (dm_services.mute, True, "Muted: no email reminders for this conversation."),
    "unmute": (dm_services.mute, False, "Unmuted: you will get email reminders again."),
    "archive": (
        dm_services.archive,
        True,
        "Archived. It comes back to your inbox when a new message arrives.",
    ),
    "unarchive": (dm_services.archive, False, "Moved back to your inbox."),
}


@login_required
@require_POST
def conversation_preferences(request, pk: int):
    """Mute/unmute or archive/unarchive a conversation for oneself (from its page or the inbox)."""
    conversation = _my_conversation(request, pk)
    change = PREFERENCE_CHANGES.get(request.POST.get("change", ""))
    if change is None:
        return HttpResponseBadRequest("Choose mute, unmute, archive or unarchive.")
    service, value, done = change
    try:
        service(conversation.channel, request.user, value)
    except DmBridgeError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect(conversation)


@login_required
def conversation_detail(request, pk: int):
    conversation = get_object_or_404(
        Conversation.objects.select_related("shop__owner", "buyer", "listing", "channel"), pk=pk
    )
    if conversation.buyer_id != request.user.pk and not conversation.shop.is_team_member(
        request.user
    ):
        raise Http404  # the same answer as for a conversation that does not exist
    membership = DmMember.objects.filter(channel=conversation.channel, user=request.user).first()
    return render(
        request,
        "marketplace/conversation.html",
        {
            "conversation": conversation,
            "membership": membership,  # the viewer's mute/archive state (None: not a member)
            "closed": dm_services.is_channel_closed(conversation.channel),
            "you_blocked": services.you_blocked(request.user, conversation),
            "is_buyer": conversation.buyer_id == request.user.pk,
        },
    )


# --- trust and safety --------------------------------------------------------------------------


@login_required
@require_POST
def shop_block(request, slug: str):
    """A buyer blocks or unblocks a shop (from the shop's page)."""
    shop = get_object_or_404(Shop, slug=slug)
    try:
        if request.POST.get("action") == "unblock":
            services.unblock_shop(request.user, shop)
            messages.success(request, f"You unblocked {shop.name}. You can message it again.")
        else:
            services.block_shop(request.user, shop)
            messages.success(request, _blocked_text(shop.name))
    except (services.MarketplaceError, DmBridgeError) as exc:
        messages.error(request, str(exc))
    return redirect(shop)


@login_required
@require_POST
def conversation_block(request, pk: int):
    """Block or unblock the other side: the buyer blocks the shop, the team the buyer."""
    conversation = _my_conversation(request, pk)
    buyer_side = conversation.buyer_id == request.user.pk
    other = conversation.shop.name if buyer_side else conversation.buyer.get_username()
    try:
        if request.POST.get("action") == "unblock":
            if buyer_side:
                services.unblock_shop(request.user, conversation.shop)
            else:
                services.unblock_buyer(request.user, conversation)
            messages.success(request, f"You unblocked {other}. The conversation is open again.")
        else:
            if buyer_side:
                services.block_shop(request.user, conversation.shop)
            else:
                services.block_buyer(request.user, conversation)
            messages.success(request, _blocked_text(other))
    except (services.MarketplaceError, DmBridgeError) as exc:
        messages.error(request, str(exc))
    return redirect(conversation)


@login_required
def conversation_report(request, pk: int):
    """Report the conversation or one of its latest messages to the site's moderators.

    Whop's chat element is an iframe, so its messages cannot carry a Report button of ours:
    the form lists the latest messages (read from Whop by the server) to pick one from.
    """
    conversation = _my_conversation(request, pk)
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_conversation(
                request.user,
                conversation,
                category=form.cleaned_data["category"],
                note=form.cleaned_data["note"],
                whop_message_id=form.cleaned_data["message"],
            )
        except services.LimitReached as exc:
            return render(
                request,
                "marketplace/limit_reached.html",
                {"message": str(exc), "back": conversation.get_absolute_url()},
                status=429,
            )
        except DmBridgeError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                "Thank you: our moderators will look at your report. Nobody in the "
                "conversation is told who reported it.",
            )
            return redirect(conversation)
    latest, unavailable = [], False
    try:
        latest = dm_services.recent_messages(conversation.channel, REPORT_PICKER_SIZE)
    except DmBridgeError:
        unavailable = True  # the conversation as a whole can still be reported
    return render(
        request,
        "marketplace/report.html",
        {"conversation": conversation, "form": form, "latest": latest, "unavailable": unavailable},
        status=400 if form.errors else 200,
    )


def _blocked_text(name: str) -> str:
    return (
        f"You blocked {name}. Your conversation is closed: neither of you can write in it, "
        "and no new one can start until you unblock."
    )


def _my_conversation(request, pk: int) -> Conversation:
    """A conversation of the signed-in user's (as buyer or team), else 404."""
    conversation = get_object_or_404(
        Conversation.objects.select_related("shop__owner", "buyer", "channel"), pk=pk
    )
    if conversation.buyer_id != request.user.pk and not conversation.shop.is_team_member(
        request.user
    ):
        raise Http404
    return conversation


@login_required
def notification_settings(request):
    """The account's email reminders: each batch, a daily digest or none (dm_bridge stores it)."""
    form = ReminderSettingsForm(
        request.POST or None,
        initial={"frequency": dm_services.reminder_frequency(request.user)},
    )
    if request.method == "POST" and form.is_valid():
        dm_services.set_reminder_frequency(request.user, form.cleaned_data["frequency"])
        messages.success(request, "Your email reminder setting is saved.")
        return redirect("notification-settings")
    return render(request, "marketplace/notification_settings.html", {"form": form})


def _team_shop(request, slug: str) -> Shop:
    shop = get_object_or_404(Shop, slug=slug)
    if not shop.is_team_member(request.user):
        raise Http404
    return shop
