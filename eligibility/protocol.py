"""Every number the eligibility rules and the screening form depend on, in one place.

SPEC §4 fixes these (several are marked **[decision]** there); change them here, nowhere else.
Pure Python: no ORM, importable by the rules engine, the forms and the benchmarks alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

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

# --- NIHSS (SCALES.md): item → maximum score, and whether "UN" (untestable) is allowed
NIHSS_ITEMS: dict[str, tuple[int, bool]] = {
    "1a": (3, False), "1b": (2, False), "1c": (2, False), "2": (2, False), "3": (3, False),
    "4": (3, False), "5a": (4, True), "5b": (4, True), "6a": (4, True), "6b": (4, True),
    "7": (2, True), "8": (2, False), "9": (3, False), "10": (2, True), "11": (2, False),
}
NIHSS_UNTESTABLE = "UN"

OCCLUSION_LABELS = {"ICA_intracranial": "intracranial ICA", "MCA_M1": "MCA M1", "VA_V4": "VA V4",
                    "BA": "basilar artery", "other": "other"}
TECHNIQUES = ("contact_aspiration", "stent_retriever", "combined")
ETICI_CODES = ("0", "1", "2a", "2b50", "2b67", "2c", "3")
OCCLUSION_SITES = ("ICA_intracranial", "MCA_M1", "VA_V4", "BA", "other")
CONSENT_GIVEN = frozenset({"patient", "legal_representative"})
CONSENT_CODES = ("patient", "legal_representative", "none")

# A time may be this much ahead of the server clock (tablet clocks drift) before it counts as
# "in the future" and is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Range:
    """An allowed range (hard check: outside is impossible and refused) and a usual range
    (soft check: outside is saved with a warning). Shown beside the field on the form."""

    low: Decimal
    high: Decimal
    unit: str = ""
    usual_low: Decimal | None = None
    usual_high: Decimal | None = None
    decimals: int = 0  # digits after the point the CRF stores (more would be rounded silently)


def _r(low, high, unit="", usual_low=None, usual_high=None, decimals=0) -> Range:
    d = lambda v: None if v is None else Decimal(str(v))  # noqa: E731
    return Range(d(low), d(high), unit, d(usual_low), d(usual_high), decimals)


RANGES: dict[str, Range] = {
    "age_years": _r(0, 120, "years", None, 100),
    "prestroke_mrs": _r(0, 5),
    "nihss_baseline": _r(0, 42),
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
