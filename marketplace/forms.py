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
