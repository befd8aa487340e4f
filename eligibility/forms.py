"""The screening CRF as a tablet form (crispy, bootstrap5): sections, units and allowed ranges
beside each field, NIHSS as its 15 items, passes as a formset added one at a time.

The form only parses and checks; `to_data()` turns it into the SPEC §10 dict that the services
store and the rules evaluate. Hard edit checks come from eligibility.validation, so the form,
the live panel and the services refuse exactly the same values.
"""

from __future__ import annotations

from typing import Any

from crispy_forms.bootstrap import AppendedText, InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Field, Layout, Row
from django import forms
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import protocol as P
from eligibility.data import BOOLEAN_FIELDS
from eligibility.models import ETICI, Consent, CreatinineUnit, OcclusionSite, Sex, Technique
from eligibility.validation import hard_errors, range_text

YES_NO = [("yes", _("Yes")), ("no", _("No"))]
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"

NIHSS_LABELS = {
    "1a": _("Level of consciousness"), "1b": _("LOC questions (month, age)"),
    "1c": _("LOC commands (eyes, hand)"), "2": _("Best gaze"), "3": _("Visual fields"),
    "4": _("Facial palsy"), "5a": _("Motor arm, left"), "5b": _("Motor arm, right"),
    "6a": _("Motor leg, left"), "6b": _("Motor leg, right"), "7": _("Limb ataxia"),
    "8": _("Sensory"), "9": _("Best language"), "10": _("Dysarthria"),
    "11": _("Extinction and inattention"),
}
MRS_CHOICES = [
    ("", "—"),
    ("0", _("0 — no symptoms at all")),
    ("1", _("1 — symptoms, no significant disability")),
    ("2", _("2 — slight disability")),
    ("3", _("3 — moderate disability, walks unassisted")),
    ("4", _("4 — moderately severe disability")),
    ("5", _("5 — severe disability, bedridden")),
]
EXCLUSION_QUESTIONS = [
    ("EX1", "ich_on_imaging", _("Intracranial haemorrhage on CT/MRI")),
    ("EX1", "fpct_major_hemorrhage", _("Major haemorrhage on flat-panel CT")),
    ("EX2", "gi_gu_bleeding_30d", _("GI or GU bleeding within 30 days")),
    ("EX2", "major_surgery_14d", _("Major surgery within 14 days")),
    ("EX3", "doac_48h", _("Direct oral anticoagulant within 48 h")),
    ("EX3", "hit_history", _("History of heparin-induced thrombocytopenia")),
    ("EX4", "pregnant_or_lactating", _("Pregnant or lactating (female subjects)")),
    ("EX5", "contrast_contraindication", _("Contraindication to contrast agents")),
    ("EX5", "nickel_titanium_allergy", _("Allergy to nickel-titanium")),
    ("EX6", "life_expectancy_lt_6m", _("Life expectancy under 6 months")),
    ("EX7", "confounding_neuro_psych", _("Neurological/psychiatric disease confounding assessment")),
    ("EX9", "tortuosity_prevents_delivery", _("Arterial tortuosity prevents device delivery")),
    ("EX10", "unlikely_90d_followup", _("Unlikely to complete the 90-day follow-up")),
]
LAB_UNITS = {"platelets": "×10⁹/L", "aptt": "s", "inr": "", "gfr": "mL/min"}


# The rule each ranged field feeds, shown after its allowed range (composed per request, in
# the user's language).
RULE_HINTS = {  # (the rule, the protocol number it names: core.protocol)
    "age_years": (_("IN1: ≥ %(v)s"), P.AGE_MIN_YEARS), "aspects": (_("IN5: ≥ %(v)s, ICA/M1 only"), P.ASPECTS_MIN),
    "pc_aspects": (_("IN5: ≥ %(v)s, V4/BA only"), P.ASPECTS_MIN),
    "platelets": (_("EX3: < %(v)s excludes"), P.PLATELETS_MIN),
    "aptt": (_("EX3: > %(v)s s excludes"), P.APTT_MAX), "inr": (_("EX3: > %(v)s excludes"), P.INR_MAX),
    "gfr": (_("EX8: < %(v)s excludes"), P.GFR_MIN),
}


def _range_help(name: str) -> str:
    text = gettext("Allowed %(r)s") % {"r": range_text(name)}
    hint = RULE_HINTS.get(name)
    if not hint:
        return text
    message, number = hint
    return gettext("%(range)s. %(rule)s") % {"range": text, "rule": str(message) % {"v": number}}


# What each score means, in short (SCALES.md: show the descriptors so nobody scores from memory).
NIHSS_DESCRIPTORS = {
    "1a": [_("alert"), _("drowsy, rouses to minor stimulation"), _("needs repeated or painful stimulation"),
           _("unresponsive or reflex responses only")],
    "1b": [_("both answers correct"), _("one correct"), _("neither correct")],
    "1c": [_("both tasks correct"), _("one correct"), _("neither correct")],
    "2": [_("normal"), _("partial gaze palsy"), _("forced deviation or total palsy")],
    "3": [_("no visual loss"), _("partial hemianopia"), _("complete hemianopia"), _("bilateral hemianopia or blind")],
    "4": [_("normal"), _("minor paralysis"), _("partial paralysis (lower face)"), _("complete paralysis")],
    "5a": [_("no drift for 10 s"), _("drift, does not hit bed"), _("some effort against gravity"),
           _("no effort against gravity"), _("no movement")],
    "6a": [_("no drift for 5 s"), _("drift, does not hit bed"), _("some effort against gravity"),
           _("no effort against gravity"), _("no movement")],
    "7": [_("absent"), _("present in one limb"), _("present in two limbs")],
    "8": [_("normal"), _("mild to moderate loss"), _("severe to total loss")],
    "9": [_("no aphasia"), _("mild to moderate aphasia"), _("severe aphasia"), _("mute or global aphasia")],
    "10": [_("normal"), _("mild to moderate"), _("severe, unintelligible or mute")],
    "11": [_("no abnormality"), _("inattention in one modality"), _("profound, more than one modality")],
}
NIHSS_DESCRIPTORS["5b"] = NIHSS_DESCRIPTORS["5a"]
NIHSS_DESCRIPTORS["6b"] = NIHSS_DESCRIPTORS["6a"]


def _nihss_choices(code: str):
    maximum, un = P.NIHSS_ITEMS[code]
    words = NIHSS_DESCRIPTORS[code]
    choices = [("", "—")] + [(str(i), f"{i} — {words[i]}") for i in range(maximum + 1)]
    if un:
        choices.append((P.NIHSS_UNTESTABLE, _("UN (untestable)")))
    return choices


def _datetime_field(label, help_text=""):
    return forms.DateTimeField(
        label=label, required=False, help_text=help_text,
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
    )


def _number(label, decimal=False):
    field_class = forms.DecimalField if decimal else forms.IntegerField
    return field_class(label=label, required=False,
                       widget=forms.NumberInput(attrs={"inputmode": "decimal" if decimal else "numeric",
                                                       "step": "any"}))


class ScreeningForm(forms.Form):
    # --- patient and history
    age_years = _number(_("Age"))
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, required=False, widget=forms.RadioSelect)
    prestroke_mrs = forms.ChoiceField(label=_("Pre-stroke mRS"), choices=MRS_CHOICES, required=False,
                                      help_text=_("Allowed 0–5. IN2: 0–1"))
    # --- stroke and imaging
    last_known_well = _datetime_field(_("Last known well"))
    arterial_puncture_at = _datetime_field(_("Arterial puncture"), _("IN3: ≤ 24 h 0 min after last known well"))
    nihss_baseline = forms.IntegerField(
        label=_("NIHSS total"), required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "step": "1", "min": "0",
                                        "max": str(P.NIHSS_MAX_TOTAL)}))
    nihss_un_reason = forms.CharField(label=_("Explanation for items scored UN"), required=False,
                                      help_text=_("Required when an item is UN (amputation, intubation…)"))
    occlusion_site = forms.ChoiceField(label=_("Occlusion site"), required=False,
                                       choices=[("", "—")] + list(OcclusionSite.choices),
                                       help_text=_("IN6. ICA/M1 → anterior, V4/BA → posterior"))
    aspects = _number(_("ASPECTS (anterior)"))
    pc_aspects = _number(_("pc-ASPECTS (posterior)"))
    evt_intended = forms.ChoiceField(label=_("Endovascular thrombectomy intended"), choices=YES_NO,
                                     required=False, widget=forms.RadioSelect)
    # --- labs (a value, or "pending")
    platelets = _number(_("Platelets"), decimal=True)
    aptt = _number(_("aPTT"), decimal=True)
    inr = _number(_("INR"), decimal=True)
    gfr = _number(_("GFR"), decimal=True)
    creatinine = forms.DecimalField(
        label=_("Creatinine"), required=False,
        help_text=_("Allowed 0–3000 µmol/L or 0–35 mg/dL. EX8: > 220 µmol/L or > 2.5 mg/dL "
                    "excludes, compared in the unit entered"),
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "any"}))
    creatinine_unit = forms.ChoiceField(label=_("Creatinine unit"), required=False,
                                        choices=[("", "—")] + list(CreatinineUnit.choices))
    lab_pending_attested = forms.BooleanField(
        label=_("Investigator's attestation: no clinical suspicion of coagulopathy / renal failure"),
        required=False, help_text=_("Allows pending labs (a query opens; investigators only)"))
    # --- consent
    consent = forms.ChoiceField(label=_("Consent given by"), required=False, widget=forms.RadioSelect,
                                choices=list(Consent.choices), help_text=_("IN9"))
    consent_at = _datetime_field(_("Consent time"))

    def __init__(self, *args, can_attest: bool = True, tz_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("age_years", "aspects", "pc_aspects", *LAB_UNITS):
            self.fields[name].help_text = _range_help(name)
        self.fields["nihss_baseline"].help_text = gettext(
            "Allowed 0–%(max)s. IN4: ≥ %(min)s. Type the total, or score the %(n)s items below "
            "(the total is then derived); if both are entered they must agree.") % {
            "max": P.NIHSS_MAX_TOTAL, "min": P.NIHSS_MIN, "n": len(P.NIHSS_ITEMS)}
        for code in P.NIHSS_ITEMS:
            maximum, un = P.NIHSS_ITEMS[code]
            self.fields[f"nihss_{code}"] = forms.ChoiceField(
                label=f"{code} · {NIHSS_LABELS[code]}", choices=_nihss_choices(code), required=False,
                help_text=f"0–{maximum}" + (gettext(" or UN") if un else ""))
        for lab in P.PENDABLE_LABS:
            self.fields[f"{lab}_pending"] = forms.BooleanField(label=_("pending"), required=False)
        for _code, name, label in EXCLUSION_QUESTIONS:
            self.fields[name] = forms.ChoiceField(label=label, choices=YES_NO, required=False,
                                                  widget=forms.RadioSelect)
        if not can_attest:
            self.fields["lab_pending_attested"].disabled = True
        self.tz_name = tz_name
        for name in ("last_known_well", "arterial_puncture_at", "consent_at"):
            zone = gettext("time zone %(z)s") % {"z": tz_name} if tz_name else ""
            self.fields[name].help_text = " · ".join(t for t in (zone, str(self.fields[name].help_text)) if t)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = self._layout()

    # Sections of the CRF, each a <details> the user may collapse once it is done; its summary
    # shows the section's state (complete / missing n / ineligible), updated live out of band.
    # The passes formset sits between imaging and labs (an HTML block rendered with the page's
    # context).
    def _layout(self) -> Layout:
        def section(key, title, *rows):
            head = (f'<details open class="card mb-3 shadow-sm crf-section" id="section-{key}" '
                    f'data-section="{key}"><summary class="card-header d-flex align-items-center gap-2">'
                    f'<h2 class="h5 mb-0 me-auto">{escape(title)}</h2>'
                    f'{{% include "eligibility/_section_state.html" with s=section_states.{key} %}}'
                    '</summary><div class="card-body">')
            return Layout(HTML(head), *rows, HTML("</div></details>"))

        def col(*fields, css="col-12 col-md-6 col-xl-4"):
            return Column(*fields, css_class=css)

        nihss_cols = [col(f"nihss_{c}", css="col-12 col-sm-6 col-xxl-4") for c in P.NIHSS_ITEMS]
        labs = []
        for lab, unit in LAB_UNITS.items():
            value = AppendedText(lab, unit) if unit else Field(lab)
            labs.append(col(value, Field(f"{lab}_pending", wrapper_class="mt-n2")))
        labs.append(col(Row(Column(Field("creatinine"), css_class="col-7"),
                            Column(Field("creatinine_unit"), css_class="col-5")),
                        Field("creatinine_pending", wrapper_class="mt-n2")))
        exclusions = [col(InlineRadios(name), css="col-12 col-md-6") for _c, name, _l in EXCLUSION_QUESTIONS]
        all_no = escape(_("All no"))
        all_no_help = escape(_("Sets every answer below to no; each stays visible and can be changed."))
        items_title = escape(_("Or score the %(n)s items (the total is derived)") % {"n": len(P.NIHSS_ITEMS)})
        return Layout(
            section("patient", _("Patient and history"), Row(
                col(AppendedText("age_years", _("years"))), col(InlineRadios("sex")), col("prestroke_mrs"))),
            section("stroke", _("Stroke and imaging"),
                    Row(col("last_known_well"), col("arterial_puncture_at"),
                        col(HTML('{% include "eligibility/_interval.html" %}'))),
                    HTML('<h3 class="h6 mt-2">NIHSS <span class="badge text-bg-primary fs-6" id="nihss-total"'
                         ' data-testid="nihss-total">{{ nihss_total_display }}</span></h3>'),
                    Row(col("nihss_baseline")),
                    HTML('<details class="mb-3" id="nihss-items" data-testid="nihss-items"'
                         '{% if nihss_items_open %} open{% endif %}><summary class="fw-semibold mb-2">'
                         + items_title + '</summary>'),
                    Row(*nihss_cols), Row(col("nihss_un_reason", css="col-12")),
                    HTML("</details>"),
                    Row(col("occlusion_site"), col("aspects"), col("pc_aspects")),
                    Row(col(InlineRadios("evt_intended")))),
            HTML('{% include "eligibility/_passes.html" %}'),
            section("labs", _("Laboratory values"), Row(*labs), Row(col("lab_pending_attested", css="col-12"))),
            section("exclusions", _("Exclusion criteria"),
                    HTML('<button type="button" class="btn btn-outline-secondary mb-3" data-all-no="#section-exclusions"'
                         ' data-testid="all-no">' + all_no + '</button> <span class="small text-muted">'
                         + all_no_help + '</span>'),
                    Row(*exclusions)),
            section("consent", _("Consent"), Row(col(InlineRadios("consent")), col("consent_at"))),
        )

    @classmethod
    def initial_from_data(cls, data: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for name in ("age_years", "sex", "last_known_well", "arterial_puncture_at", "nihss_un_reason",
                     "nihss_baseline",
                     "occlusion_site", "aspects", "pc_aspects", "creatinine_unit", "consent",
                     "consent_at", "lab_pending_attested"):
            initial[name] = data.get(name)
        if data.get("prestroke_mrs") is not None:
            initial["prestroke_mrs"] = str(data["prestroke_mrs"])
        for code, value in (data.get("nihss_items") or {}).items():
            initial[f"nihss_{code}"] = str(value)
        for lab in P.PENDABLE_LABS:
            value = data.get(lab)
            if value == P.PENDING:
                initial[f"{lab}_pending"] = True
            else:
                initial[lab] = value
        for name in BOOLEAN_FIELDS:
            if data.get(name) is not None:
                initial[name] = "yes" if data[name] else "no"
        return initial

    def _value(self, name):
        """The cleaned value, or None for a field that did not parse (the live panel evaluates
        what it can while the user is still typing)."""
        return (getattr(self, "cleaned_data", None) or {}).get(name)

    def to_data(self) -> dict[str, Any]:
        """The SPEC §10 dict of what was typed (passes come from the formset)."""
        v = self._value
        data: dict[str, Any] = {
            name: v(name) for name in ("age_years", "last_known_well", "arterial_puncture_at",
                                       "aspects", "pc_aspects", "consent_at", "nihss_baseline")
        }
        for name in ("sex", "occlusion_site", "creatinine_unit", "consent", "nihss_un_reason"):
            data[name] = v(name) or None
        mrs = v("prestroke_mrs")
        data["prestroke_mrs"] = int(mrs) if mrs not in (None, "") else None
        data["nihss_items"] = {code: (v(f"nihss_{code}") if v(f"nihss_{code}") == P.NIHSS_UNTESTABLE
                                      else int(v(f"nihss_{code}")))
                               for code in P.NIHSS_ITEMS if v(f"nihss_{code}") not in (None, "")}
        for lab in P.PENDABLE_LABS:
            value = v(lab)
            data[lab] = value if value is not None else (P.PENDING if v(f"{lab}_pending") else None)
        for name in BOOLEAN_FIELDS:
            answer = v(name)
            data[name] = True if answer == "yes" else False if answer == "no" else None
        data["lab_pending_attested"] = bool(v("lab_pending_attested"))
        return data

    def clean(self):
        cleaned = super().clean()
        for field, message in hard_errors(self.to_data(), timezone.now()).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
            elif field not in self.fields:
                self.add_error(None, message)
        return cleaned


class PassForm(forms.Form):
    technique = forms.ChoiceField(label=_("Technique"), choices=[("", "—")] + list(Technique.choices),
                                  required=False)
    etici = forms.ChoiceField(label=_("eTICI after the pass"), choices=[("", "—")] + list(ETICI.choices),
                              required=False)


PassFormSet = forms.formset_factory(PassForm, extra=0, max_num=10, validate_max=True)


def passes_from_formset(formset) -> list[dict[str, Any]]:
    out = []
    for form in formset.forms:
        cleaned = getattr(form, "cleaned_data", None) or {}
        out.append({"technique": cleaned.get("technique") or None, "etici": cleaned.get("etici") or None})
    # Trailing rows left completely blank are not passes.
    while out and not out[-1]["technique"] and not out[-1]["etici"]:
        out.pop()
    return out


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I confirm that this patient meets every inclusion criterion and no exclusion "
                "criterion, and that consent was obtained as recorded."), required=True)


class CloseForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=[
        ("ineligible", _("Ineligible (the failed criteria are recorded)")),
        ("consent_refused", _("Consent refused")),
        ("recanalized", _("Recanalized after the third pass")),
        ("other", _("Other (write the reason)")),
    ], widget=forms.RadioSelect)
    text = forms.CharField(label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
