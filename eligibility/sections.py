"""The screening form's sections and the state each one shows in its header (pure, no ORM).

A section is `complete` (nothing it holds is missing and none of its criteria fails),
`missing` (with the number of its fields still needed) or `ineligible` (a criterion it holds
fails, with the codes). Missing fields come from the verdict (rules.evaluate lists every one);
failed criteria are assigned to the section where their answers sit. EX3 mixes laboratory
values and yes/no questions, so it counts for the section whose answers make it fail, decided
by the EX3 rule itself (never a second copy of its thresholds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from core import protocol as P
from eligibility import rules
from eligibility.data import BOOLEAN_FIELDS

COMPLETE, MISSING, INELIGIBLE = "complete", "missing", "ineligible"

SECTIONS: tuple[tuple[str, Any], ...] = (
    ("patient", _("Patient and history")),
    ("stroke", _("Stroke and imaging")),
    ("passes", _("Thrombectomy passes before randomization")),
    ("labs", _("Laboratory values")),
    ("exclusions", _("Exclusion criteria")),
    ("consent", _("Consent")),
)
EX3_QUESTIONS = ("doac_48h", "hit_history")
_FIELDS: dict[str, tuple[str, ...]] = {
    "patient": ("age_years", "sex", "prestroke_mrs"),
    "stroke": ("last_known_well", "arterial_puncture_at", "nihss_items", "nihss_baseline", "nihss_un_reason",
               *(f"nihss_{code}" for code in P.NIHSS_ITEMS), "occlusion_site", "aspects", "pc_aspects",
               "evt_intended"),
    "passes": ("passes",),
    "labs": (*P.PENDABLE_LABS, "creatinine_unit", "lab_pending_attested"),
    "exclusions": tuple(name for name in BOOLEAN_FIELDS if name != "evt_intended"),
    "consent": ("consent", "consent_at"),
}
SECTION_OF_FIELD = {name: key for key, names in _FIELDS.items() for name in names}
CRITERIA_OF_SECTION: dict[str, tuple[str, ...]] = {
    "patient": ("IN1", "IN2"),
    "stroke": ("IN3", "IN4", "IN5", "IN6", "IN7"),
    "passes": ("IN8",),
    "labs": ("EX3", "EX8"),
    "exclusions": ("EX1", "EX2", "EX3", "EX4", "EX5", "EX6", "EX7", "EX9", "EX10"),
    "consent": ("IN9",),
}


@dataclass(frozen=True)
class SectionState:
    key: str
    title: Any
    state: str  # COMPLETE / MISSING / INELIGIBLE
    missing: int = 0  # fields of this section still needed
    failed: tuple[str, ...] = ()  # criteria of this section that fail

    @property
    def text(self) -> str:
        from django.utils.translation import gettext, ngettext

        if self.state == INELIGIBLE:
            return gettext("ineligible: %(codes)s") % {"codes": ", ".join(self.failed)}
        if self.state == MISSING:
            return ngettext("missing %(n)s field", "missing %(n)s fields", self.missing) % {"n": self.missing}
        return gettext("complete")


def section_of(field_name: str) -> str | None:
    """The section a field (as the verdict names it) belongs to: "passes[2].etici" → passes."""
    if field_name.startswith("passes["):
        return "passes"
    return SECTION_OF_FIELD.get(field_name)


def _ex3_fails_on(data: Mapping[str, Any], section: str) -> bool:
    """Whether EX3 fails because of this section's answers: the EX3 rule run with the other
    section's part neutralised (its yes/no questions answered no, or its labs left out)."""
    ex3 = next(run for code, _title, run in rules.CRITERIA if code == "EX3")
    if section == "labs":
        probe = {**data, **{q: False for q in EX3_QUESTIONS}}
    else:
        probe = {**data, **{lab: None for lab in P.COAGULATION_LABS}}
    return ex3(rules.Facts(probe)).state == rules.NOT_MET


def section_states(verdict: rules.Verdict, data: Mapping[str, Any]) -> dict[str, SectionState]:
    """{section key: its state} for the verdict of `data`, in form order."""
    failed = set(verdict.failed)
    out: dict[str, SectionState] = {}
    for key, title in SECTIONS:
        codes = [c for c in CRITERIA_OF_SECTION[key] if c in failed]
        if "EX3" in codes and not _ex3_fails_on(data, key):
            codes.remove("EX3")
        missing = sum(1 for name in verdict.missing if section_of(name) == key)
        if codes:
            out[key] = SectionState(key, title, INELIGIBLE, missing, tuple(codes))
        elif missing:
            out[key] = SectionState(key, title, MISSING, missing)
        else:
            out[key] = SectionState(key, title, COMPLETE)
    return out
