from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from .models import Listing, Shop


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        help_text="Used to give you a chat identity; never shown to other users."
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class ShopForm(forms.ModelForm):
    class Meta:
        model = Shop
        fields = ("name", "description")


class ListingForm(forms.ModelForm):
    class Meta:
        model = Listing
        fields = ("title", "description", "price")
        widgets = {"price": forms.NumberInput(attrs={"min": "0", "step": "0.01"})}


class StaffForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username of the person to add")


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search listings")
    include_sold = forms.BooleanField(required=False, label="Include sold items")
