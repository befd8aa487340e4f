"""Between a stored Screening and the plain data dict of SPEC §10 that the rules read.

Labs are stored as a value plus a `*_pending` flag and appear in the dict as the value or the
string "pending"; passes come from the active ScreeningPass rows, in order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core import protocol as P
from eligibility import derive

# Fields stored as they are entered (the labs and passes are handled separately).
PLAIN_FIELDS = (
    "age_years", "sex", "prestroke_mrs", "last_known_well", "arterial_puncture_at",
    "nihss_items", "nihss_un_reason", "occlusion_site", "aspects", "pc_aspects", "evt_intended",
    "creatinine_unit", "lab_pending_attested",
    "ich_on_imaging", "fpct_major_hemorrhage", "gi_gu_bleeding_30d", "major_surgery_14d",
    "doac_48h", "hit_history", "pregnant_or_lactating", "contrast_contraindication",
    "nickel_titanium_allergy", "life_expectancy_lt_6m", "confounding_neuro_psych",
    "tortuosity_prevents_delivery", "unlikely_90d_followup", "consent", "consent_at",
)
BOOLEAN_FIELDS = (
    "evt_intended", "ich_on_imaging", "fpct_major_hemorrhage", "gi_gu_bleeding_30d",
    "major_surgery_14d", "doac_48h", "hit_history", "pregnant_or_lactating",
    "contrast_contraindication", "nickel_titanium_allergy", "life_expectancy_lt_6m",
    "confounding_neuro_psych", "tortuosity_prevents_delivery", "unlikely_90d_followup",
)
TEXT_FIELDS = ("sex", "occlusion_site", "creatinine_unit", "consent", "nihss_un_reason")
INT_FIELDS = ("age_years", "prestroke_mrs", "aspects", "pc_aspects")
DATA_FIELDS = PLAIN_FIELDS + P.PENDABLE_LABS + ("nihss_baseline", "passes")


def screening_data(screening, passes=None) -> dict[str, Any]:
    """The SPEC §10 data dict of a stored screening (what rules.evaluate reads)."""
    data: dict[str, Any] = {name: getattr(screening, name) for name in PLAIN_FIELDS}
    for name in TEXT_FIELDS:
        data[name] = data[name] or None
    data["nihss_items"] = dict(screening.nihss_items or {})
    # A typed total only stands when no item was entered (SPEC §4: the total or the items;
    # with items the stored total is derived from them).
    data["nihss_baseline"] = None if screening.nihss_items else screening.nihss_baseline
    for lab in P.PENDABLE_LABS:
        data[lab] = P.PENDING if getattr(screening, f"{lab}_pending") else getattr(screening, lab)
    if passes is None:
        passes = screening.passes.filter(active=True).order_by("position") if screening.pk else []
    data["passes"] = [{"technique": p.technique, "etici": p.etici} for p in passes]
    return data


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Coerce a caller's dict (form, API, test) to stored types: '' → None, labs → Decimal or
    'pending', yes/no → bool, NIHSS items → int or 'UN'."""
    out: dict[str, Any] = {}
    for name in DATA_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in BOOLEAN_FIELDS or name == "lab_pending_attested":
            value = derive.to_bool(value)
            if name == "lab_pending_attested":
                value = bool(value)
        elif name in P.PENDABLE_LABS:
            value = P.PENDING if derive.is_pending(value) else derive.to_decimal(value)
        elif name in INT_FIELDS or name == "nihss_baseline":
            value = derive.to_int(value) if not isinstance(value, Decimal) else int(value)
        elif name == "nihss_items":
            value = {code: derive.nihss_item_value(v) for code, v in (value or {}).items()
                     if derive.nihss_item_value(v) is not None}
        elif name == "passes":
            value = [{"technique": (p or {}).get("technique") or None, "etici": (p or {}).get("etici") or None}
                     for p in (value or [])]
        elif name in TEXT_FIELDS:
            value = (value or "").strip() or None if isinstance(value, str) or value is None else value
        elif value == "":
            value = None
        out[name] = value
    return out

