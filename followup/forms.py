"""Tablet-friendly crispy forms for the follow-up CRFs: every field shows its unit and
allowed range; scales show their descriptors; datetimes are entered in the site's zone."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Fieldset, Layout, Row
from django import forms
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from core import bounds
from core.http import int_field
from followup import models as m
from followup import nihss

DT_FORMAT = "%Y-%m-%dT%H:%M"


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=DT_FORMAT, **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def _widgets(model) -> dict:
    out = {}
    for f in model._meta.get_fields():
        if not getattr(f, "editable", False) or not hasattr(f, "get_internal_type"):
            continue
        kind = f.get_internal_type()
        if kind == "DateTimeField":
            out[f.name] = DateTimeLocal()
        elif kind == "DateField":
            out[f.name] = DateInput()
        elif kind == "TextField":
            out[f.name] = forms.Textarea(attrs={"rows": 2})
    return out


def nihss_layout(prefix: str, legend: str) -> Fieldset:
    rows = []
    items = list(nihss.ITEMS)
    for i in range(0, len(items), 3):
        cols = []
        for item in items[i:i + 3]:
            inner = [nihss.field_name(prefix, item)]
            if item.untestable:
                inner.append(nihss.un_field_name(prefix, item))
            cols.append(Column(*inner, css_class="col-12 col-md-4"))
        rows.append(Row(*cols))
    return Fieldset(legend, *rows, f"{prefix}_un_explanation",
                    HTML(format_lazy('<p class="unit-hint">{}</p>', _("Total (0–42) is derived from the items: UN counts 0."))))


def _grid(*names, per_row=3):
    rows = []
    for i in range(0, len(names), per_row):
        rows.append(Row(*[Column(n, css_class=f"col-12 col-md-{12 // per_row}") for n in names[i:i + per_row]]))
    return rows


class CRFForm(forms.ModelForm):
    """Base: the version the user read (optimistic lock) and the reason for a change."""

    form_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(label=_("Reason for change"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Required when changing data saved before (audit trail)."))

    layout_sections: list = []

    def __init__(self, *args, editing: bool = False, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form_version"].initial = self.instance.version if self.instance.pk else None
        if not editing:
            del self.fields["reason"]
        short = {}
        for prefix in ("nihss", "before", "worse"):
            for item in nihss.ITEMS:
                short[nihss.field_name(prefix, item)] = (f"{item.code} · {item.label}", None)
                short[nihss.un_field_name(prefix, item)] = (_("%(code)s untestable (UN)") % {"code": item.code},
                                                            "")
        for name, f in self.fields.items():
            if name in short:
                f.label, help_text = short[name]
                if help_text is not None:
                    f.help_text = help_text
            elif name not in ("form_version", "reason"):
                # Keep scale names as written (mRS, eTICI), not "MRS", "ETICI".
                verbose = str(self._meta.model._meta.get_field(name).verbose_name)
                if verbose[:2] in ("mR", "eT"):
                    f.label = verbose
        for f in self.fields.values():
            if isinstance(f.widget, forms.RadioSelect) and hasattr(f, "choices"):
                f.choices = [c for c in f.choices if c[0] not in ("", None)]  # no "------" radio
            if isinstance(f.widget, forms.Select) and not isinstance(f.widget, forms.RadioSelect):
                f.widget.attrs.setdefault("class", "form-select")
            if read_only:
                f.disabled = True
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.render_unmentioned_fields = True
        self.helper.layout = Layout(*self.layout_sections, "form_version",
                                    *(["reason"] if editing else []))

    def clean(self):
        data = super().clean()
        # The bounds of every value (core.bounds), beside the field, before any rule reads it.
        now = timezone.now()
        for name, value in list(data.items()):
            problem = bounds.value_problem(value, now=now, time_zone=timezone.get_current_timezone())
            if problem and name not in self.errors:
                self.add_error(name, problem)
        return data

    def clean_form_version(self):
        # A hidden number the page sent: anything else is a 400 page naming it (core.http).
        return int_field(self.data, "form_version")

    def model_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k not in ("form_version", "reason")}


def crf_form(model, sections, exclude=("subject",), base=CRFForm, radios=()):
    attrs = {"layout_sections": sections}
    meta = type("Meta", (), {"model": model, "exclude": list(exclude), "widgets": {
        **_widgets(model), **{r: forms.RadioSelect for r in radios}}})
    attrs["Meta"] = meta
    return type(f"{model.__name__}Form", (base,), attrs)


ProcedureForm = crf_form(m.Procedure, [
    Fieldset(_("Times (site time zone)"), *_grid("arterial_puncture_at", "first_reperfusion_at",
                                                 "procedure_end_at")),
    Fieldset(_("Rescue: balloon angioplasty"), *_grid("angioplasty", "balloon_device", "balloon_diameter_mm",
                                                      "balloon_pressure_atm", per_row=4)),
    Fieldset(_("Rescue: stent"), *_grid("stent", "stent_type", "stent_device", "stent_diameter_mm",
                                        "stent_length_mm", per_row=3)),
    Fieldset(_("Antithrombotic drugs"), *_grid("antithrombotic", "antithrombotic_route", "antithrombotic_dose",
                                               "second_antithrombotic", per_row=4)),
    Fieldset(_("Result"), "final_etici"),
    Fieldset(_("Flat-panel CT at the end"), *_grid("fpct_done", "fpct_new_hyperdensity", "fpct_hemorrhage")),
    Fieldset(_("Complications"), *_grid("vessel_perforation", "dissection", "embolization_new_territory",
                                        "vasospasm", "instent_thrombosis", "access_site_complication"),
             "complication_notes"),
])


class PassForm(forms.Form):
    technique = forms.ChoiceField(label=_("technique"), choices=[("", "—")] + list(m.Technique.choices),
                                  required=False)
    device = forms.CharField(label=_("device"), required=False, max_length=100)
    at = forms.DateTimeField(label=_("time (site zone)"), required=False, widget=DateTimeLocal())
    etici = forms.ChoiceField(label=_("eTICI after the pass"), choices=[("", "—")] + list(m.ETICI.choices),
                              required=False)

    def clean(self):
        data = super().clean()
        if any(data.get(k) for k in ("technique", "device", "at", "etici")):
            for name in ("technique", "etici"):
                if not data.get(name):
                    self.add_error(name, _("Required for a recorded pass."))
        return data


PassFormSet = forms.formset_factory(PassForm, extra=0, max_num=10)

Visit24hForm = crf_form(m.Visit24h, ["assessed_at", nihss_layout("nihss", _("NIHSS at 24 hours"))])

Visit48hForm = crf_form(m.Visit48h, [
    Fieldset(_("Follow-up imaging"), *_grid("imaging_modality", "imaging_at", "imaging_at_worsening")),
    Fieldset(_("Haemorrhage"), "new_ich",
             HTML(format_lazy('<p class="unit-hint">{}</p>', _("Heidelberg Bleeding Classification: tick every class present."))),
             *_grid(*[f for f, _l in m.HEIDELBERG_FIELDS.values()], per_row=2),
             HTML(format_lazy('<p class="unit-hint">{}</p>', _("ECASS radiological type (used by ECASS III / SITS-MOST)."))),
             *_grid(*[f for f, _l in m.ECASS_FIELDS.values()], per_row=3)),
    Fieldset(_("Neurological worsening"), *_grid("worsening", "worsening_at", "nihss_lowest_24h",
                                                 "nihss_lowest_7d", per_row=4)),
    nihss_layout("before", _("NIHSS immediately before the worsening")),
    nihss_layout("worse", _("NIHSS at the worsening")),
    Fieldset(_("Intervention and judgement"), *_grid("major_intervention", "major_intervention_other", per_row=2),
             *_grid("alternative_explanation", "alternative_explanation_text", per_row=2),
             *_grid("ich_predominant_cause", "died", per_row=2)),
])

Visit7dForm = crf_form(m.Visit7d, [
    Fieldset(_("Visit"), *_grid("assessed_on", "discharged", "discharge_on")),
    nihss_layout("nihss", _("NIHSS")),
    Fieldset(_("Outcome at discharge / day 7"), "mrs_discharge", "destination"),
], radios=("mrs_discharge",))

Day90Form = crf_form(m.Day90, [
    Fieldset(_("Assessment"), *_grid("assessed_on", "mode", "respondent")),
    Fieldset(_("Blinding"), Div("blinded_attested", css_class="fs-5"), "breach_reference"),
    Fieldset(_("Modified Rankin Scale at day 90 (choose the description that fits)"), "mrs", "death_on"),
    Fieldset(_("EQ-5D-5L (levels 1–5: use the site's licensed wording)"),
             *_grid("eq5d_mobility", "eq5d_self_care", "eq5d_usual_activities", "eq5d_pain", "eq5d_anxiety",
                    "eq5d_vas", per_row=3)),
], radios=("mrs",))

AdverseEventForm = crf_form(m.AdverseEvent, [
    Fieldset(_("Event"), *_grid("term", "onset_on", "severity")),
    Fieldset(_("Seriousness"), "serious", *_grid("sae_death", "sae_life_threatening", "sae_hospitalization",
                                                 "sae_disability", "sae_congenital", "sae_important_medical")),
    Fieldset(_("Outcome and relatedness"), *_grid("outcome", "resolved_on", "related_procedure",
                                                  "related_device", per_row=4), "description"),
])
DeathForm = crf_form(m.Death, [*_grid("died_on", "cause", "autopsy"), "cause_text"])
DeviationForm = crf_form(m.ProtocolDeviation, [*_grid("occurred_on", "category", "major"), "description",
                                               "corrective_action"])
StudyExitForm = crf_form(m.StudyExit, [*_grid("kind", "exit_on", "withdrawn_by"), "data_use_permitted",
                                       "details"])
