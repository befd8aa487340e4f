from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from core.models import Site, Subject, User
from randomization import simulation
from randomization.models import BreachRoute, Method, SimulationMethod


def _helper(label: str) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.add_input(Submit("submit", label, css_class="btn-lg"))
    return helper


class GenerateListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, required=False,
                           help_text=_("e.g. 'Main list v1'. Optional."))
    seed = forms.CharField(label=_("Seed"), max_length=200,
                           help_text=_("Any text. Write it in the randomization plan: the same seed and "
                                       "parameters regenerate the same list and SHA-256."))
    entries_per_stratum = forms.IntegerField(
        label=_("Entries per stratum"), min_value=2, max_value=5000, initial=60,
        help_text=_("2–5000; rounded up to whole blocks. Strata are site × circulation."))
    sites = forms.MultipleChoiceField(label=_("Sites"), required=False, widget=forms.CheckboxSelectMultiple,
                                      help_text=_("Empty means every active site."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sites"].choices = [(s.code, str(s)) for s in Site.objects.filter(active=True)]


class ImportListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    file = forms.FileField(label=_("CSV file"),
                           help_text=_("Columns stratum, sequence, block, block_size (optional), arm; "
                                       "stratum like 001-anterior; arm STENTING or CONTINUED_MT."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 20 * 1024 * 1024:
            raise forms.ValidationError(_("CSV file: at most 20 MB."))
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("CSV file: must be UTF-8 text.")) from None


class TrialConfigForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=Method.choices)
    minimisation_p = forms.DecimalField(label=_("Minimisation random element"), min_value=0.5, max_value=1.0,
                                        decimal_places=2, help_text=_("0.50–1.00; the protocol uses 0.80."))


class BreachForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    subject_number = forms.CharField(label=_("Subject number"), max_length=8, required=False,
                                     help_text=_("e.g. 001-0003, if a particular subject is concerned."))
    unblinded_username = forms.CharField(label=_("Person unblinded: EDC user name"), max_length=150, required=False)
    unblinded_person = forms.CharField(label=_("…or name and role, if not an EDC user"), max_length=200,
                                       required=False)
    occurred_at = forms.DateTimeField(label=_("When it happened"),
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                      help_text=_("In your site's time zone."))
    route = forms.ChoiceField(label=_("How"), choices=BreachRoute.choices)
    description = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, sites=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites if sites is not None else Site.objects.none()
        self.helper = _helper(_("File the report"))

    def clean(self):
        data = super().clean()
        site = data.get("site")
        number = (data.get("subject_number") or "").strip()
        data["subject"] = None
        if number and site:
            subject = Subject.objects.filter(number=number, site=site).first()
            if subject is None:
                self.add_error("subject_number", _("Subject number: no subject %(n)s at site %(s)s.")
                               % {"n": number, "s": site.code})
            data["subject"] = subject
        username = (data.get("unblinded_username") or "").strip()
        data["unblinded_user"] = None
        if username:
            # The same answer whether or not the user name exists (no account enumeration):
            # an unknown name is kept as the named person, for the statistician to follow up.
            user = User.objects.filter(username=username).first()
            data["unblinded_user"] = user
            if user is None:
                person = (data.get("unblinded_person") or "").strip()
                data["unblinded_person"] = f"{username} ({person})" if person else username
        if not username and not (data.get("unblinded_person") or "").strip():
            self.add_error("unblinded_person", _("Who: give an EDC user name or a name and role."))
        return data


def _whole_number(label, name: str, initial: int, help_text) -> forms.IntegerField:
    """A whole-number field whose every error names the field and its rule (the messages are
    written per form, in the reader's language: SimulationForm.__init__)."""
    low, high = simulation.LIMITS[name]
    return forms.IntegerField(label=label, min_value=low, max_value=high, initial=initial, help_text=help_text)


class SimulationForm(forms.Form):
    """Parameters of a simulation (randomization.simulation), with units and rules."""

    method = forms.ChoiceField(
        label=_("Method"), choices=SimulationMethod.choices, initial=SimulationMethod.BOTH,
        error_messages={"required": _("Method: choose one of the methods listed."),
                        "invalid_choice": _("Method: choose one of the methods listed; %(value)s is not one.")})
    subjects = _whole_number(_("Subjects per simulated trial (patients)"), "subjects", 312,
                             _("The trial's sample size: 312 in the protocol."))
    sites = _whole_number(_("Sites (number of hospitals)"), "sites", 30,
                          _("Recruitment is drawn unevenly across sites, as in a real trial."))
    runs = _whole_number(_("Simulated trials (runs)"), "runs", 1000,
                         _("More runs give smoother distributions and take longer."))
    seed = _whole_number(_("Seed (whole number)"), "seed", 20260101,
                         _("The same seed and parameters give the same result."))
    minimisation_p = forms.DecimalField(
        label=_("Minimisation random element p (probability)"), initial=0.80, decimal_places=2,
        min_value=simulation.P_RANGE[0], max_value=simulation.P_RANGE[1],
        help_text=_("Probability of giving the arm that minimises imbalance: 0.50–1.00; the protocol uses 0.80."),
        error_messages={key: _("Minimisation random element p: a probability from 0.50 to 1.00 with at most two "
                               "decimals.") for key in ("required", "invalid", "min_value", "max_value",
                                                        "max_decimal_places", "max_digits", "max_whole_digits")})

    def __init__(self, *args, **kwargs):
        from django.utils.translation import gettext

        super().__init__(*args, **kwargs)
        for name in ("subjects", "sites", "runs", "seed"):
            field = self.fields[name]
            low, high = simulation.LIMITS[name]
            rule = gettext("%(field)s: a whole number from %(low)s to %(high)s.") % {
                "field": field.label, "low": low, "high": high}
            field.error_messages.update({"required": rule, "invalid": rule, "min_value": rule, "max_value": rule})

    def clean(self):
        data = super().clean()
        subjects, runs, method = data.get("subjects"), data.get("runs"), data.get("method")
        if subjects and runs and method:
            work = subjects * runs * (2 if method == SimulationMethod.BOTH else 1)
            if work > simulation.MAX_WORK:
                self.add_error("runs", _(
                    "Simulated trials: subjects × simulated trials%(both)s may be at most %(max)s simulated "
                    "allocations per simulation; these parameters make %(work)s. Lower the runs or the "
                    "subjects.") % {"both": _(" × 2 methods") if method == SimulationMethod.BOTH else "",
                                    "max": f"{simulation.MAX_WORK:,}", "work": f"{work:,}"})
        return data
