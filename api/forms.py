from django import forms
from django.utils.translation import gettext_lazy as _

from api.services import LABEL_MAX


class TokenForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=LABEL_MAX,
                            help_text=_("What the token is for, e.g. “R analysis script”."))
    expires_on = forms.DateField(label=_("Expires on"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text=_("Optional; the token stops working at the start of that day (UTC)."))
