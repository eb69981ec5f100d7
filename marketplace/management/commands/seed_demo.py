"""Demo data for `make run`: shops, listings and accounts to log in with (idempotent)."""

from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dm_bridge import services as dm
from marketplace.models import Listing, Shop, ShopStaff

PASSWORD = "marketplace-demo"
ACCOUNTS = [
    # username, full name, role
    ("alice", "Alice Archer", "buyer"),
    ("erin", "Erin Elm", "buyer"),
    ("bob", "Bob Baker", "owner of Bob's Bikes"),
    ("carol", "Carol Chen", "staff at Bob's Bikes"),
    ("dana", "Dana Diaz", "owner of Dana's Darkroom"),
]
SHOPS = {
    "Bob's Bikes": ("bob", ["carol"], "Second-hand bikes, tuned and ready to ride."),
    "Dana's Darkroom": ("dana", [], "Film cameras, lenses and darkroom gear."),
}
LISTINGS = [
    (
        "Bob's Bikes",
        "Steel touring bike, 56 cm",
        "Reynolds 531 frame, new tyres and brake pads.",
        "420.00",
    ),
    ("Bob's Bikes", "Kids' bike, 20 inch", "Gears and a bell. Outgrown, not worn out.", "85.00"),
    ("Bob's Bikes", "Single-speed commuter", "Light, quiet, mudguards fitted.", "260.00"),
    ("Bob's Bikes", "Cargo bike with box", "Carries two kids or a week of shopping.", "1450.00"),
    ("Bob's Bikes", "Gravel bike, 54 cm", "Hydraulic discs, tubeless-ready wheels.", "980.00"),
    ("Bob's Bikes", "Folding bike", "Folds in 15 seconds; fits under a desk.", "340.00"),
    ("Bob's Bikes", "Vintage road bike", "Campagnolo groupset, original paint.", "610.00"),
    ("Bob's Bikes", "Bike trailer", "Two seats, rain cover included.", "120.00"),
    ("Dana's Darkroom", "35 mm rangefinder", "Clean viewfinder, light seals replaced.", "290.00"),
    ("Dana's Darkroom", "Medium-format TLR", "Sharp taking lens, working meter.", "380.00"),
    ("Dana's Darkroom", "50 mm f/1.8 lens", "No haze, no fungus, smooth focus.", "75.00"),
    ("Dana's Darkroom", "Darkroom enlarger", "With 50 mm lens and timer.", "150.00"),
    ("Dana's Darkroom", "Film developing tank", "Holds two 35 mm reels.", "25.00"),
    ("Dana's Darkroom", "Light meter", "Incident and reflected; new battery.", "60.00"),
]


class Command(BaseCommand):
    help = "Create the demo shops, listings and accounts (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Allow running with DEBUG off (never in production).",
        )

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts with a known password; it only runs with DEBUG on."
            )
        User = get_user_model()
        with transaction.atomic():
            users = {}
            for username, full_name, _role in ACCOUNTS:
                first, last = full_name.split(" ", 1)
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "email": f"{username}@demo.example",
                        "first_name": first,
                        "last_name": last,
                    },
                )
                if created:
                    user.set_password(PASSWORD)
                    user.save()
                users[username] = user
            admin, created = User.objects.get_or_create(
                username="admin",
                defaults={"email": "admin@demo.example", "is_staff": True, "is_superuser": True},
            )
            if created:
                admin.set_password(PASSWORD)
                admin.save()
            for user in [*users.values(), admin]:  # demo addresses count as confirmed
                EmailAddress.objects.update_or_create(
                    user=user, email=user.email, defaults={"verified": True, "primary": True}
                )
            self.stdout.write(f"  accounts: {len(users) + 1}")
            shops = {}
            for name, (owner, staff, description) in SHOPS.items():
                shop, _ = Shop.objects.get_or_create(
                    name=name, defaults={"owner": users[owner], "description": description}
                )
                for username in staff:
                    ShopStaff.objects.get_or_create(shop=shop, user=users[username])
                shops[name] = shop
            self.stdout.write(f"  shops: {len(shops)}")
            for shop_name, title, description, price in LISTINGS:
                Listing.objects.get_or_create(
                    shop=shops[shop_name],
                    title=title,
                    defaults={"description": description, "price": Decimal(price)},
                )
            self.stdout.write(f"  listings: {Listing.objects.count()}")
            # Give everyone a Whop identity in the background, so the first chat opens fast.
            identities = [shop.ensure_identity() for shop in shops.values()]
            queued = dm.enqueue_user_sync([*users.values(), *identities])
            self.stdout.write(f"  Whop identities queued for sync: {queued}")

        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready. Log in with (password for all: {PASSWORD}):")
        )
        for username, _full, role in ACCOUNTS:
            self.stdout.write(f"    {username:<8} {role}")
        self.stdout.write("    admin    Django admin at /admin/")
