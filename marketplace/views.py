"""Pages. Thin: load, check access, call marketplace.services, render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import services
from .forms import ListingForm, SearchForm, ShopForm, StaffInvitationForm
from .models import Conversation, Listing, Shop, ShopNameTaken, StaffInvitation

PAGE_SIZE = 12


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
        },
    )


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
    conversations = (
        Conversation.objects.filter(
            Q(buyer=request.user) | Q(shop__owner=request.user) | Q(shop__staff=request.user)
        )
        .select_related("shop", "buyer", "listing", "channel")
        .distinct()
    )
    return render(request, "marketplace/inbox.html", {"conversations": conversations})


@login_required
def conversation_detail(request, pk: int):
    conversation = get_object_or_404(
        Conversation.objects.select_related("shop__owner", "buyer", "listing", "channel"), pk=pk
    )
    if conversation.buyer_id != request.user.pk and not conversation.shop.is_team_member(
        request.user
    ):
        raise Http404  # the same answer as for a conversation that does not exist
    return render(request, "marketplace/conversation.html", {"conversation": conversation})


def _team_shop(request, slug: str) -> Shop:
    shop = get_object_or_404(Shop, slug=slug)
    if not shop.is_team_member(request.user):
        raise Http404
    return shop
