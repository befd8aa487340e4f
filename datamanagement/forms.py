"""Forms of data management, and the reason-for-change mixin every CRF form uses.

ReasonForChangeMixin (for the apps that own CRF forms): adds a `reason_for_change` field that
is required as soon as a saved form is changed (SPEC §8: "reason for change, required after
first save"); the service receives `form.reason_for_change_value()` and passes it to
datamanagement.services.crf_write, which refuses a change without a reason as well.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from datamanagement.models import QueryStatus, SignatureScope


class ReasonForChangeMixin:
    reason_field_name = "reason_for_change"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        self.is_update = instance is not None and getattr(instance, "pk", None) is not None
        if self.is_update:
            self.fields[self.reason_field_name] = forms.CharField(
                label=_("Reason for change"), required=False, max_length=500,
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
                help_text=_("Required when you change data that was already saved (audit trail)."),
            )

    def clean(self):
        cleaned = super().clean()
        if self.is_update:
            changed = [n for n in self.changed_data if n != self.reason_field_name]
            if changed and not (cleaned.get(self.reason_field_name) or "").strip():
                self.add_error(self.reason_field_name,
                               _("Reason for change: required because you changed %(fields)s.")
                               % {"fields": ", ".join(str(self.fields[n].label or n) for n in changed)})
        return cleaned

    def reason_for_change_value(self) -> str:
        return (self.cleaned_data.get(self.reason_field_name) or "").strip()


class QueryFilterForm(forms.Form):
    site = forms.CharField(required=False, label=_("Site"))
    status = forms.ChoiceField(required=False, label=_("Status"), choices=[
        ("", _("All")), ("unresolved", _("Open or answered")), *QueryStatus.choices])
    age = forms.ChoiceField(required=False, label=pgettext_lazy("age of a query", "Age"), choices=[
        ("", _("Any age")), ("le7", _("≤ 7 days")), ("8to30", _("8–30 days")), ("gt30", _("> 30 days"))])
    form = forms.ChoiceField(required=False, label=_("Form"))
    subject = forms.CharField(required=False, label=_("Subject / screening"))

    def __init__(self, *args, form_choices=(), site_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form"].choices = [("", _("All forms")), *form_choices]
        self.fields["site"] = forms.ChoiceField(required=False, label=_("Site"),
                                                choices=[("", _("All sites")), *site_choices])


class QueryOpenForm(forms.Form):
    field_name = forms.ChoiceField(label=_("Field"))
    text = forms.CharField(label=_("Question"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)

    def __init__(self, *args, field_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field_name"].choices = field_choices


class SignForm(forms.Form):
    scope = forms.ChoiceField(choices=SignatureScope.choices, widget=forms.HiddenInput)
    visit = forms.CharField(required=False, widget=forms.HiddenInput)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    understood = forms.BooleanField(label=_("I have read the meaning of this signature and sign with it."))


class AuditFilterForm(forms.Form):
    form = forms.ChoiceField(required=False, label=_("Form"))
    field = forms.CharField(required=False, label=_("Field"))
    subject = forms.CharField(required=False, label=_("Subject"))
    user = forms.CharField(required=False, label=_("User"))
    since = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    object_id = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, form_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form"].choices = [("", _("All forms")), *form_choices]
