from django import forms
from django.core import validators

from .models import Listing, Shop
from .shop_names import normalize_name


class ShopForm(forms.ModelForm):
    """The model refuses a name that looks like another shop's (``Shop.clean``)."""

    class Meta:
        model = Shop
        fields = ("name", "description")

    def clean_name(self) -> str:
        return normalize_name(self.cleaned_data["name"])


class ListingForm(forms.ModelForm):
    class Meta:
        model = Listing
        fields = ("title", "description", "price")
        widgets = {"price": forms.NumberInput(attrs={"min": "0", "step": "0.01"})}


class StaffInvitationForm(forms.Form):
    recipient = forms.CharField(max_length=254, label="Username or email of the person to invite")

    def clean_recipient(self) -> str:
        recipient = self.cleaned_data["recipient"].strip()
        if "@" in recipient:
            validators.validate_email(recipient)
        return recipient


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search listings")
    include_sold = forms.BooleanField(required=False, label="Include sold items")


class ReminderSettingsForm(forms.Form):
    """How often dm_bridge emails the user about unread messages."""

    frequency = forms.ChoiceField(
        label="Email me about unread messages",
        choices=[
            ("batch", "When messages wait unread (at most hourly per conversation)"),
            ("daily", "Once a day, in one digest"),
            ("off", "Never"),
        ],
        widget=forms.RadioSelect,
    )


class ReportForm(forms.Form):
    """A report to the moderators: a category, a note, and optionally one of the latest
    messages (by Whop ID; the page lists them)."""

    category = forms.ChoiceField(
        choices=[
            ("spam", "Spam"),
            ("harassment", "Harassment"),
            ("scam", "Scam or fraud"),
            ("off_platform", "Asking to pay off-platform"),
            ("other", "Other"),
        ]
    )
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
    message = forms.CharField(
        required=False,
        max_length=64,
        validators=[
            validators.RegexValidator(r"\A[A-Za-z0-9_-]+\Z", "Pick a message from the list.")
        ],
    )
