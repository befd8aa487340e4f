"""The protocol's numbers and code lists, defined once (SPEC §4–§8, SCALES.md).

Eligibility thresholds, the NIHSS items and their ranges, the visit windows and reminder
points, the day-90 window, clinical value bounds, tolerances and code lists. The rules engine,
the edit checks, the schedule, the forms, help texts and templates import them from here: an
amendment is one edit, here and nowhere else. Pure Python: no ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy, gettext_noop

# --- Inclusion thresholds (all inclusive, SPEC §4 "Boundaries are inclusive exactly as written")
AGE_MIN_YEARS = 18  # IN1: age ≥ 18
PRESTROKE_MRS_MAX = 1  # IN2: pre-stroke mRS 0–1
# IN3 [decision]: arterial puncture − last known well ≤ 24 h 0 min. Times are recorded to the
# minute on the CRF, so seconds are dropped before comparing (24 h 0 min 30 s is "24 h 0 min").
LKW_TO_PUNCTURE_MAX = timedelta(hours=24)
NIHSS_MIN = 6  # IN4: NIHSS ≥ 6
ASPECTS_MIN = 6  # IN5: ASPECTS ≥ 6 (anterior) / pc-ASPECTS ≥ 6 (posterior)
PASSES_MIN = 3  # IN8 [decision: the listing's arms say 3–5 attempts]
PASSES_MAX = 5
FAILED_ETICI = frozenset({"0", "1"})  # IN8: "recanalization failed" = eTICI 0–1 after the last pass

# --- Exclusion thresholds (the boundary value itself is eligible)
PLATELETS_MIN = Decimal("100")  # EX3: platelets < 100 ×10⁹/L excludes
APTT_MAX = Decimal("50")  # EX3: aPTT > 50 s excludes
INR_MAX = Decimal("2.0")  # EX3: INR > 2.0 excludes
GFR_MIN = Decimal("30")  # EX8: GFR < 30 mL/min excludes
# EX8: creatinine compared in the unit entered (2.5 mg/dL = 221 µmol/L, so converting first
# would flip the boundary).
CREATININE_MAX = {"umol/L": Decimal("220"), "mg/dL": Decimal("2.5")}
CREATININE_CRITERION = "EX8"

# Labs that may be "pending" at the table with the investigator's attestation [decision].
COAGULATION_LABS = ("platelets", "aptt", "inr")
RENAL_LABS = ("gfr", "creatinine")
PENDABLE_LABS = COAGULATION_LABS + RENAL_LABS
PENDING = "pending"

# --- Occlusion site → circulation (IN5, IN6, randomization stratum)
CIRCULATION_BY_OCCLUSION = {
    "ICA_intracranial": "anterior",
    "MCA_M1": "anterior",
    "VA_V4": "posterior",
    "BA": "posterior",
}

# --- NIHSS (SCALES.md): 15 items, each with its maximum and whether "UN" (untestable) is allowed


@dataclass(frozen=True)
class NihssItem:
    code: str  # "1a", "5b" ...
    label: str
    max: int
    untestable: bool = False  # UN allowed (amputation, joint fusion, intubation ...)

    @property
    def field(self) -> str:
        return "i" + self.code


NIHSS_ITEM_TABLE: tuple[NihssItem, ...] = (
    NihssItem("1a", gettext_lazy("Level of consciousness"), 3),
    NihssItem("1b", gettext_lazy("LOC questions (month, age)"), 2),
    NihssItem("1c", gettext_lazy("LOC commands (eyes, hand)"), 2),
    NihssItem("2", gettext_lazy("Best gaze"), 2),
    NihssItem("3", gettext_lazy("Visual fields"), 3),
    NihssItem("4", gettext_lazy("Facial palsy"), 3),
    NihssItem("5a", gettext_lazy("Motor arm, left"), 4, untestable=True),
    NihssItem("5b", gettext_lazy("Motor arm, right"), 4, untestable=True),
    NihssItem("6a", gettext_lazy("Motor leg, left"), 4, untestable=True),
    NihssItem("6b", gettext_lazy("Motor leg, right"), 4, untestable=True),
    NihssItem("7", gettext_lazy("Limb ataxia"), 2, untestable=True),
    NihssItem("8", gettext_lazy("Sensory"), 2),
    NihssItem("9", gettext_lazy("Best language"), 3),
    NihssItem("10", gettext_lazy("Dysarthria"), 2, untestable=True),
    NihssItem("11", gettext_lazy("Extinction and inattention"), 2),
)
# item → (maximum score, "UN" allowed)
NIHSS_ITEMS: dict[str, tuple[int, bool]] = {i.code: (i.max, i.untestable) for i in NIHSS_ITEM_TABLE}
NIHSS_MAX_TOTAL = sum(i.max for i in NIHSS_ITEM_TABLE)  # 42
NIHSS_UNTESTABLE = "UN"
# SPEC §4: the baseline NIHSS is the total 0–42 typed directly, or the 15 item scores (the total
# then derived, SCALES.md). The stored screening records which way it was entered.
NIHSS_ENTRY_TOTAL = "total"
NIHSS_ENTRY_ITEMS = "items"

# --- Scales
MRS_MAX = 6  # modified Rankin Scale 0–6; 6 = dead (SPEC §6: a death sets the day-90 mRS to 6)
MRS_DEAD = 6
EQ5D_LEVEL_MAX = 5

OCCLUSION_LABELS = {"ICA_intracranial": "intracranial ICA", "MCA_M1": "MCA M1", "VA_V4": "VA V4",
                    "BA": "basilar artery", "other": "other"}
TECHNIQUES = ("contact_aspiration", "stent_retriever", "combined")
ETICI_CODES = ("0", "1", "2a", "2b50", "2b67", "2c", "3")
OCCLUSION_SITES = ("ICA_intracranial", "MCA_M1", "VA_V4", "BA", "other")
CONSENT_GIVEN = frozenset({"patient", "legal_representative"})
CONSENT_CODES = ("patient", "legal_representative", "none")

# --- Bounds on every clinical date and time (one place: core.bounds applies them)
# A time may be this much ahead of the server clock (tablet clocks drift) before it counts as
# "in the future" and is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)
# No clinical date before this year (a year-1 date would be stored as a BC timestamp that the
# database driver cannot read back).
EARLIEST_YEAR = 1900


@dataclass(frozen=True)
class Range:
    """An allowed range (hard check: outside is impossible and refused) and a usual range
    (soft check: outside is saved with a warning). Shown beside the field on the form."""

    low: Decimal
    high: Decimal
    unit: Any = ""  # a symbol (str), or a unit word (gettext_lazy: shown in the reader's language)
    usual_low: Decimal | None = None
    usual_high: Decimal | None = None
    decimals: int = 0  # digits after the point the CRF stores (more would be rounded silently)


def _r(low, high, unit="", usual_low=None, usual_high=None, decimals=0) -> Range:
    d = lambda v: None if v is None else Decimal(str(v))  # noqa: E731
    return Range(d(low), d(high), unit, d(usual_low), d(usual_high), decimals)


RANGES: dict[str, Range] = {
    # A unit that is a word is translatable ("0–120 years" reads "0–120 岁"); symbols stay.
    "age_years": _r(0, 120, gettext_lazy("years"), None, 100),
    "prestroke_mrs": _r(0, 5),
    "nihss_baseline": _r(0, NIHSS_MAX_TOTAL),
    "aspects": _r(0, 10),
    "pc_aspects": _r(0, 10),
    "platelets": _r(0, 2000, "×10⁹/L", 20, 1000, decimals=1),
    "aptt": _r(0, 300, "s", 15, 150, decimals=1),
    "inr": _r(0, 20, "", Decimal("0.7"), 8, decimals=2),
    "gfr": _r(0, 250, "mL/min", None, 150, decimals=1),
}
# Creatinine's range depends on the unit entered.
CREATININE_RANGES: dict[str, Range] = {
    "umol/L": _r(0, 3000, "µmol/L", 20, 1000, decimals=2),
    "mg/dL": _r(0, 35, "mg/dL", Decimal("0.2"), 12, decimals=2),
}
# Usual interval between last known well and puncture: a shorter one is possible but unusual.
LKW_TO_PUNCTURE_USUAL_MIN = timedelta(minutes=20)


# --- Eligibility thresholds a later lab value may breach (EX3, EX8; the boundary is eligible),
# for the edit check "lab arrived after enrollment beyond a threshold".
LAB_THRESHOLDS: dict[str, tuple[str, Decimal, str, str]] = {
    # field: (breach when value is "<" or ">" than, threshold, unit, criterion)
    "platelets": ("<", PLATELETS_MIN, "×10⁹/L", "EX3"),
    "aptt": (">", APTT_MAX, "s", "EX3"),
    "inr": (">", INR_MAX, "", "EX3"),
    "gfr": ("<", GFR_MIN, "mL/min", "EX8"),
}


# --- Visit schedule (SPEC §6 [decision] windows) and reminders (SPEC §7)


@dataclass(frozen=True)
class VisitRule:
    code: str
    unit: str  # "hours" (exact instants from T0) or "days" (local calendar days from day 0)
    target: int  # hours or days after T0
    before: int  # window opens `before` hours/days before the target
    after: int  # and ends `after` hours/days after it (inclusive for days)
    # A reminder-free "overdue" point inside the window: V5 is overdue ("closing") from day 95.
    overdue_day: int | None = None
    # When the window has closed without data: visits whose data are transcribed from source
    # documents (V1-V4) stay "overdue" (they can still be entered late); the day-90 assessment
    # cannot be made after its window, so V5 becomes "missed".
    missed_when_closed: bool = False

    @property
    def first(self) -> int:
        return self.target - self.before

    @property
    def last(self) -> int:
        return self.target + self.after

    @property
    def text_msgid(self) -> tuple[str, dict[str, int]]:
        """The window as a translatable message (msgid, numbers): the numbers stay here."""
        if self.unit == "hours":
            return gettext_noop("T0+%(first)s h … T0+%(last)s h"), {"first": self.first, "last": self.last}
        return (gettext_noop("day %(first)s–%(last)s (%(target)s ± %(before)s)"),
                {"first": self.first, "last": self.last, "target": self.target, "before": self.before})

    @property
    def text(self) -> str:
        """The window as people write it, in English: "T0+18 h … T0+30 h", "day 83–97 (90 ± 7)"."""
        msgid, numbers = self.text_msgid
        return msgid % numbers


VISITS: tuple[VisitRule, ...] = (
    VisitRule("V2", "hours", 24, 6, 6),
    VisitRule("V3", "hours", 48, 12, 12),
    VisitRule("V4", "days", 7, 1, 1),
    VisitRule("V5", "days", 90, 7, 7, overdue_day=95, missed_when_closed=True),
)
VISIT_RULES = {rule.code: rule for rule in VISITS}
DAY90_FIRST_DAY, DAY90_LAST_DAY = VISIT_RULES["V5"].first, VISIT_RULES["V5"].last  # 83, 97


@dataclass(frozen=True)
class ReminderRule:
    key: str  # unique per subject: the claim key of the reminder
    visit: str
    unit: str  # "hours" or "days", as for the visits
    offset: int  # hours after T0, or the local day number (reminder at 00:00 that day)
    escalate: bool = False  # also to the site's monitor
    day_end: bool = False  # at the end of the day (00:00 of the next day) instead of its start


_V3, _V5 = VISIT_RULES["V3"], VISIT_RULES["V5"]
# SPEC §7. Day-90 reminders also go to the site's blinded assessors (see followup.reminders).
REMINDERS: tuple[ReminderRule, ...] = (
    ReminderRule("V3_open", "V3", "hours", 36),
    ReminderRule("V3_due", "V3", "hours", _V3.target),
    ReminderRule("V3_overdue", "V3", "hours", _V3.last, escalate=True),
    ReminderRule("V5_upcoming", "V5", "days", 76),
    ReminderRule("V5_open", "V5", "days", _V5.first),
    ReminderRule("V5_target", "V5", "days", _V5.target),
    ReminderRule("V5_closing", "V5", "days", _V5.overdue_day, escalate=True),
    # "missed (day 97)": sent when day 97, the last day of the window, has ended unentered.
    ReminderRule("V5_missed", "V5", "days", _V5.last, escalate=True, day_end=True),
)
