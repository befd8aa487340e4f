"""The eligibility rules of ANGEL-RESCUE (SPEC §4), one declaration per criterion code.

`evaluate(data) -> Verdict` is pure Python (no ORM, no clock): `data` uses the field names of
SPEC §4/§10, datetimes timezone-aware, labs as numbers or "pending", passes as a list of
{"technique": ..., "etici": ...}. The verdict is

- `ineligible` when any criterion fails (every failed code listed, in spec order),
- otherwise `incomplete` when anything needed is missing (every missing field listed),
- otherwise `eligible`,

with warnings (pending labs under attestation, unusual but possible values) in every case.
Each criterion reads the derived values (NIHSS total, circulation, last known well → puncture)
from eligibility.derive through one `Facts` object, and its thresholds from
core.protocol. Inclusion criteria are "met" when satisfied; exclusion criteria are
phrased as the condition a patient must satisfy ("no …"), so "met" always means "may enrol".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from core import protocol as P
from eligibility import derive
from eligibility.lazytext import lazy_text as _

MET, NOT_MET, MISSING = "met", "not_met", "missing"
ELIGIBLE, INELIGIBLE, INCOMPLETE = "eligible", "ineligible", "incomplete"


@dataclass(frozen=True)
class CriterionResult:
    code: str
    title: Any  # lazy: translated when shown
    state: str  # MET / NOT_MET / MISSING
    reason: Any  # LazyText: translated and formatted when shown (str(reason))
    missing: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        return self.state == MET


@dataclass(frozen=True)
class Verdict:
    status: str
    failed: list[str]
    missing: list[str]
    warnings: list[str]
    criteria: list[CriterionResult] = field(default_factory=list)
    nihss_total: int | None = None
    circulation: str | None = None
    lkw_to_puncture: timedelta | None = None

    @property
    def eligible(self) -> bool:
        return self.status == ELIGIBLE

    def criterion(self, code: str) -> CriterionResult:
        return next(c for c in self.criteria if c.code == code)


class Facts:
    """The raw data plus its derived values, computed once per evaluation."""

    __slots__ = ("data", "nihss", "circulation", "interval", "attested")

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.nihss = derive.nihss(data.get("nihss_items"), data.get("nihss_baseline"))
        self.circulation = derive.circulation(data.get("occlusion_site"))
        self.interval = derive.lkw_to_puncture(data.get("last_known_well"), data.get("arterial_puncture_at"))
        self.attested = derive.to_bool(data.get("lab_pending_attested")) is True

    def get(self, name: str) -> Any:
        value = self.data.get(name)
        return None if value == "" else value


# --- declarations ------------------------------------------------------------------------

CRITERIA: list[tuple[str, str, Callable[[Facts], CriterionResult]]] = []


def criterion(code: str, title: str):
    """Register a criterion function under its protocol code; its result carries code/title."""

    def decorator(fn: Callable[[Facts], tuple]):
        def run(f: Facts) -> CriterionResult:
            state, reason, *rest = fn(f)
            missing = tuple(rest[0]) if rest else ()
            warnings = tuple(rest[1]) if len(rest) > 1 else ()
            return CriterionResult(code, title, state, reason, missing, warnings)

        CRITERIA.append((code, title, run))
        return fn

    return decorator


def _names(fields) -> str:
    from eligibility.validation import label

    return ", ".join(label(f) for f in fields)


def _missing(*fields: str, reason: str | None = None):
    return MISSING, reason or _("Not entered: %(f)s.") % {"f": _names(fields)}, fields


# Listing, inclusion 1: "Age ≥18 years"
@criterion("IN1", format_lazy(gettext_lazy("Age {age} years or older"), age=P.AGE_MIN_YEARS))
def in1_age(f: Facts):
    age = derive.to_int(f.get("age_years"))
    if age is None:
        return _missing("age_years")
    if age >= P.AGE_MIN_YEARS:
        return MET, _("Age %(a)s years (≥ %(m)s).") % {"a": age, "m": P.AGE_MIN_YEARS}
    return NOT_MET, _("Age %(a)s years is below %(m)s.") % {"a": age, "m": P.AGE_MIN_YEARS}


# Listing, inclusion 2: "Pre-stroke mRS 0-1"
@criterion("IN2", gettext_lazy("Pre-stroke mRS 0–1"))
def in2_prestroke_mrs(f: Facts):
    mrs = derive.to_int(f.get("prestroke_mrs"))
    if mrs is None:
        return _missing("prestroke_mrs")
    if mrs <= P.PRESTROKE_MRS_MAX:
        return MET, _("Pre-stroke mRS %(v)s.") % {"v": mrs}
    return NOT_MET, _("Pre-stroke mRS %(v)s is above %(m)s.") % {"v": mrs, "m": P.PRESTROKE_MRS_MAX}


# Listing, inclusion 3: "Symptoms of AIS present within 24 hours of last known well time"
# [SPEC §4 decision: arterial puncture − last known well ≤ 24 h 0 min].
@criterion("IN3", gettext_lazy("Arterial puncture within 24 h of last known well"))
def in3_time_window(f: Facts):
    absent = [n for n in ("last_known_well", "arterial_puncture_at") if f.get(n) is None]
    if absent:
        return _missing(*absent)
    shown = derive.format_interval(f.interval)
    if f.interval < timedelta(0):
        return NOT_MET, _("Puncture is before last known well (%(i)s).") % {"i": shown}
    if f.interval <= P.LKW_TO_PUNCTURE_MAX:
        return MET, _("Last known well → puncture %(i)s (≤ 24 h 0 min).") % {"i": shown}
    return NOT_MET, _("Last known well → puncture %(i)s is over 24 h 0 min.") % {"i": shown}


# Listing, inclusion 4: "Baseline NIHSS score ≥6"
@criterion("IN4", format_lazy(gettext_lazy("Baseline NIHSS {nihss} or more"), nihss=P.NIHSS_MIN))
def in4_nihss(f: Facts):
    n = f.nihss
    missing = [f"nihss_{c}" for c in n.missing_items] if n.from_items else (
        ["nihss_items"] if n.total is None else [])
    warnings = []
    if n.untestable_items and not f.get("nihss_un_reason"):
        missing.append("nihss_un_reason")
    if missing:
        if n.from_items and n.missing_items:
            reason = _("NIHSS: %(k)s of 15 items missing (%(items)s); %(s)s so far.") % {
                "k": len(n.missing_items), "items": ", ".join(n.missing_items), "s": n.partial_sum}
        elif "nihss_un_reason" in missing:
            reason = _("Items scored UN (%(items)s) need a written explanation.") % {
                "items": ", ".join(n.untestable_items)}
        else:
            reason = _("NIHSS not entered.")
        return MISSING, reason, missing
    if n.total >= P.NIHSS_MIN:
        return MET, _("NIHSS %(t)s (≥ %(m)s).") % {"t": n.total, "m": P.NIHSS_MIN}, (), warnings
    return NOT_MET, _("NIHSS %(t)s is below %(m)s.") % {"t": n.total, "m": P.NIHSS_MIN}


# Listing, inclusion 5: "Anterior circulation: ASPECTS ≥6; Posterior circulation: pc-ASPECTS ≥6".
# Which score applies follows from the occlusion site (derive.circulation).
@criterion("IN5", gettext_lazy("ASPECTS 6 or more (anterior) / pc-ASPECTS 6 or more (posterior)"))
def in5_imaging_score(f: Facts):
    if f.circulation is None:
        if f.get("occlusion_site") is None:
            return MISSING, _("Needs the occlusion site to know which score applies."), ("occlusion_site",)
        return MISSING, _("No score applies: the occlusion site is neither anterior nor posterior "
                          "circulation (see IN6)."), ()
    name, label = ("aspects", "ASPECTS") if f.circulation == "anterior" else ("pc_aspects", "pc-ASPECTS")
    score = derive.to_int(f.get(name))
    if score is None:
        return _missing(name, reason=_("%(l)s not entered (%(c)s circulation).") % {
            "l": label, "c": f.circulation})
    if score >= P.ASPECTS_MIN:
        return MET, _("%(l)s %(s)s (≥ %(m)s).") % {"l": label, "s": score, "m": P.ASPECTS_MIN}
    return NOT_MET, _("%(l)s %(s)s is below %(m)s.") % {"l": label, "s": score, "m": P.ASPECTS_MIN}


# Listing, inclusion 6: "Occlusion of intracranial ICA, M1 segment of MCA, V4 segment of vertebral
# artery, or basilar artery"
@criterion("IN6", gettext_lazy("Occlusion of intracranial ICA, M1, V4 or basilar artery"))
def in6_occlusion_site(f: Facts):
    site = f.get("occlusion_site")
    if site is None:
        return _missing("occlusion_site")
    if f.circulation is not None:
        return MET, _("Occlusion of the %(s)s (%(c)s circulation).") % {
            "s": P.OCCLUSION_LABELS.get(site, site), "c": f.circulation}
    return NOT_MET, _("Occlusion site '%(s)s' is not ICA, M1, V4 or BA.") % {"s": P.OCCLUSION_LABELS.get(site, site)}


# Listing, inclusion 7: "Clinical care team intends to perform endovascular therapy (EVT)"
@criterion("IN7", gettext_lazy("Endovascular thrombectomy intended"))
def in7_evt_intended(f: Facts):
    value = derive.to_bool(f.get("evt_intended"))
    if value is None:
        return _missing("evt_intended")
    return (MET, _("EVT intended.")) if value else (NOT_MET, _("EVT not intended."))


# Listing, inclusion 8: "Failure to achieve recanalization (eTICI 0-1) after 3 thrombectomy
# attempts, including: At least one contact aspiration attempt; At least one stent retriever
# attempt or combined approach" [SPEC §4 decision: 3–5 passes, as the listing's arms say
# "after 3-5 attempts"]; the eTICI that counts is the one after the last pass.
@criterion("IN8", gettext_lazy("3–5 failed passes: ≥ 1 aspiration, ≥ 1 stent retriever/combined, eTICI 0–1 after the last"))
def in8_passes(f: Facts):
    passes = list(f.get("passes") or [])
    if not passes:
        return _missing("passes", reason=_("No thrombectomy pass entered."))
    absent = []
    for i, p in enumerate(passes, start=1):
        for key in ("technique", "etici"):
            if not (p or {}).get(key):
                absent.append(f"passes[{i}].{key}")
    if absent:
        return _missing(*absent, reason=_("Pass details missing: %(f)s.") % {"f": _names(absent)})
    problems = []
    count = len(passes)
    if not P.PASSES_MIN <= count <= P.PASSES_MAX:
        problems.append(_("%(n)s passes; %(lo)s–%(hi)s are required.") % {
            "n": count, "lo": P.PASSES_MIN, "hi": P.PASSES_MAX})
    techniques = {p["technique"] for p in passes}
    if "contact_aspiration" not in techniques:
        problems.append(_("no contact aspiration pass"))
    if not techniques & {"stent_retriever", "combined"}:
        problems.append(_("no stent retriever or combined pass"))
    last = passes[-1]["etici"]
    if last not in P.FAILED_ETICI:
        problems.append(_("eTICI %(e)s after the last pass (must be 0 or 1)") % {"e": last})
    if problems:
        return NOT_MET, "; ".join(str(p) for p in problems) + "."
    return MET, _("%(n)s passes, technique mix satisfied, eTICI %(e)s after the last.") % {
        "n": count, "e": last}


# Listing, inclusion 9: "Subject or legally authorized representative can provide informed consent"
@criterion("IN9", gettext_lazy("Informed consent by patient or legal representative"))
def in9_consent(f: Facts):
    consent = f.get("consent")
    if consent is None:
        return _missing("consent")
    if consent not in P.CONSENT_GIVEN:
        return NOT_MET, _("Consent not obtained.")
    if f.get("consent_at") is None:
        return _missing("consent_at", reason=_("Consent time not entered."))
    who = _("patient") if consent == "patient" else _("legal representative")
    return MET, _("Consent given by the %(w)s.") % {"w": who}


# --- exclusions: each is phrased as what must hold for the patient to enrol -----------------


def _flags(f: Facts, *names: str):
    """Yes/no exclusion questions: any 'yes' excludes; unanswered ones are missing."""
    present = [n for n in names if derive.to_bool(f.get(n)) is True]
    absent = [n for n in names if derive.to_bool(f.get(n)) is None]
    return present, absent


def _flag_criterion(f: Facts, *names: str):
    present, absent = _flags(f, *names)
    if present:
        return NOT_MET, _("Present: %(f)s.") % {"f": _names(present)}
    if absent:
        return _missing(*absent)
    return MET, _("None present.")


def _lab_check(f: Facts, name: str, breached: Callable[[Decimal], str | None], problems, missing, warnings,
               value_name: str | None = None):
    raw = f.get(name)
    if derive.is_pending(raw):
        if f.attested:
            warnings.append(_("%(l)s pending under the investigator's attestation: a query opens and a "
                              "later value beyond the threshold is a protocol deviation.") % {"l": _names([name])})
        else:
            missing.append(name)
        return
    value = derive.to_decimal(raw)
    if value is None:
        missing.append(name)
        return
    problem = breached(value)
    if problem:
        problems.append(problem)


def _lab_result(problems, missing, warnings, ok_reason):
    if problems:
        return NOT_MET, "; ".join(str(p) for p in problems) + ".", (), warnings
    if missing:
        pend = [m for m in missing if m in P.PENDABLE_LABS]
        reason = _("Not entered or pending without attestation: %(f)s.") % {"f": _names(missing)} \
            if pend else _("Not entered: %(f)s.") % {"f": _names(missing)}
        return MISSING, reason, missing, warnings
    return MET, ok_reason, (), warnings


# Listing, exclusion 1: "Intracranial hemorrhage confirmed by imaging prior to randomization; or
# intraprocedural flat-panel CT evidence of major hemorrhage"
@criterion("EX1", gettext_lazy("No intracranial haemorrhage on imaging or flat-panel CT"))
def ex1_hemorrhage(f: Facts):
    return _flag_criterion(f, "ich_on_imaging", "fpct_major_hemorrhage")


# Listing, exclusion 2: "Gastrointestinal or genitourinary bleeding within 30 days post-stroke
# onset; or major surgery within 14 days"
@criterion("EX2", gettext_lazy("No GI/GU bleeding in 30 days, no major surgery in 14 days"))
def ex2_bleeding_surgery(f: Facts):
    return _flag_criterion(f, "gi_gu_bleeding_30d", "major_surgery_14d")


# Listing, exclusion 3: "Bleeding diathesis, including: Laboratory evidence of coagulopathy
# (PLT <100×10⁹/L, aPTT >50 sec, or INR >2.0); Direct oral anticoagulant (DOAC) use within 48
# hours prior; History of heparin-induced thrombocytopenia (HIT)". Pending labs: SPEC §4
# [decision] — allowed only under the investigator's attestation.
@criterion("EX3", format_lazy(gettext_lazy("No coagulopathy: platelets ≥ {platelets}, aPTT ≤ {aptt} s, INR ≤ {inr}, no DOAC 48 h, "
                                  "no HIT"), platelets=P.PLATELETS_MIN, aptt=P.APTT_MAX, inr=P.INR_MAX))
def ex3_coagulation(f: Facts):
    problems: list[str] = []
    missing: list[str] = []
    warnings: list[str] = []
    _lab_check(f, "platelets", lambda v: _("platelets %(v)s < %(t)s ×10⁹/L") % {"v": v, "t": P.PLATELETS_MIN}
               if v < P.PLATELETS_MIN else None, problems, missing, warnings)
    _lab_check(f, "aptt", lambda v: _("aPTT %(v)s s > %(t)s s") % {"v": v, "t": P.APTT_MAX}
               if v > P.APTT_MAX else None, problems, missing, warnings)
    _lab_check(f, "inr", lambda v: _("INR %(v)s > %(t)s") % {"v": v, "t": P.INR_MAX}
               if v > P.INR_MAX else None, problems, missing, warnings)
    present, absent = _flags(f, "doac_48h", "hit_history")
    problems += [_("%(f)s: yes") % {"f": _names([n])} for n in present]
    missing += absent
    return _lab_result(problems, missing, warnings, _("Coagulation within limits."))


# Listing, exclusion 4: "Pregnancy or lactation at admission" (SPEC §4: not asked for male subjects).
@criterion("EX4", gettext_lazy("Not pregnant or lactating"))
def ex4_pregnancy(f: Facts):
    if f.get("sex") == "male":
        return MET, _("Not applicable (male).")
    value = derive.to_bool(f.get("pregnant_or_lactating"))
    if value is True:
        return NOT_MET, _("Pregnant or lactating.")
    if value is False:
        return MET, _("Not pregnant or lactating.")
    if f.get("sex") is None:
        return _missing("sex", reason=_("Sex not entered (pregnancy is asked for female subjects)."))
    return _missing("pregnant_or_lactating")


# Listing, exclusion 5: "Contraindications to: Radiographic contrast agents; Nickel, titanium, or
# their alloys (device-related)"
@criterion("EX5", gettext_lazy("No contrast contraindication or nickel-titanium allergy"))
def ex5_contrast_nitinol(f: Facts):
    return _flag_criterion(f, "contrast_contraindication", "nickel_titanium_allergy")


# Listing, exclusion 6: "Life expectancy <6 months"
@criterion("EX6", gettext_lazy("Life expectancy 6 months or more"))
def ex6_life_expectancy(f: Facts):
    return _flag_criterion(f, "life_expectancy_lt_6m")


# Listing, exclusion 7: "Pre-existing neurological/psychiatric conditions that may confound
# neurological assessment"
@criterion("EX7", gettext_lazy("No confounding neurological or psychiatric disease"))
def ex7_confounding(f: Facts):
    return _flag_criterion(f, "confounding_neuro_psych")


# Listing, exclusion 8: "Severe renal insufficiency: GFR <30 mL/min or Serum creatinine >220 μmol/L
# (2.5 mg/dL)" — compared in the unit entered, never converted (2.5 mg/dL = 221 µmol/L, so
# converting first would flip the boundary; SPEC §4).
@criterion("EX8", format_lazy(gettext_lazy("No severe renal failure: GFR ≥ {gfr}, creatinine ≤ {umol} µmol/L or ≤ {mgdl} mg/dL"),
                              gfr=P.GFR_MIN, umol=P.CREATININE_MAX["umol/L"], mgdl=P.CREATININE_MAX["mg/dL"]))
def ex8_renal(f: Facts):
    problems: list[str] = []
    missing: list[str] = []
    warnings: list[str] = []
    _lab_check(f, "gfr", lambda v: _("GFR %(v)s < %(t)s mL/min") % {"v": v, "t": P.GFR_MIN}
               if v < P.GFR_MIN else None, problems, missing, warnings)
    unit = f.get("creatinine_unit")
    raw = f.get("creatinine")
    if raw is not None and not derive.is_pending(raw) and unit not in P.CREATININE_MAX:
        missing.append("creatinine_unit")
    else:
        limit = P.CREATININE_MAX.get(unit)
        _lab_check(f, "creatinine", lambda v: _("creatinine %(v)s %(u)s > %(t)s %(u)s") % {
            "v": v, "u": unit, "t": limit} if v > limit else None, problems, missing, warnings)
    return _lab_result(problems, missing, warnings, _("Renal function within limits."))


# Listing, exclusion 9: "Arterial tortuosity or other vascular anomalies preventing device delivery
# to target vessel"
@criterion("EX9", gettext_lazy("No tortuosity preventing device delivery"))
def ex9_tortuosity(f: Facts):
    return _flag_criterion(f, "tortuosity_prevents_delivery")


# Listing, exclusion 10: "Unlikely to complete 90-day follow-up"
@criterion("EX10", gettext_lazy("Likely to complete the 90-day follow-up"))
def ex10_followup(f: Facts):
    return _flag_criterion(f, "unlikely_90d_followup")


CODES = [code for code, _title, _fn in CRITERIA]


def evaluate(data: Mapping[str, Any]) -> Verdict:
    """Evaluate every criterion and combine them into the verdict (SPEC §4, §10)."""
    from eligibility.validation import unusual_values

    facts = Facts(data)
    results = [run(facts) for _code, _title, run in CRITERIA]
    failed = [r.code for r in results if r.state == NOT_MET]
    missing: list[str] = []
    warnings: list[str] = []
    for r in results:
        missing.extend(m for m in r.missing if m not in missing)
        warnings.extend(str(w) for w in r.warnings if str(w) not in warnings)
    warnings.extend(unusual_values(data))
    status = INELIGIBLE if failed else INCOMPLETE if any(r.state == MISSING for r in results) else ELIGIBLE
    return Verdict(status=status, failed=failed, missing=missing, warnings=warnings, criteria=results,
                   nihss_total=facts.nihss.total, circulation=facts.circulation,
                   lkw_to_puncture=facts.interval)
