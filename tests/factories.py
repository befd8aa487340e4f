"""Test helpers shared by every app's tests: screening data and screenings built through the
real eligibility services (no shortcuts), so other apps test against real screenings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

NIHSS_ELIGIBLE_ITEMS = {  # total 14
    "1a": 1, "1b": 1, "1c": 0, "2": 1, "3": 1, "4": 2, "5a": 3, "5b": 0, "6a": 2, "6b": 0,
    "7": 0, "8": 1, "9": 1, "10": 1, "11": 0,
}


def eligible_screening_data(**overrides: Any) -> dict[str, Any]:
    """A complete data dict (SPEC §10 field names) whose verdict is `eligible`: a 64-year-old
    woman, anterior circulation (MCA M1, ASPECTS 8), NIHSS 14, three failed passes, consent by
    the patient. Times are relative to now (last known well 6 h ago, puncture 2 h ago).
    Overrides replace keys, e.g. eligible_screening_data(occlusion_site="BA", pc_aspects=8)."""
    now = timezone.now().replace(second=0, microsecond=0)
    data: dict[str, Any] = {
        "age_years": 64,
        "sex": "female",
        "prestroke_mrs": 0,
        "last_known_well": now - timedelta(hours=6),
        "arterial_puncture_at": now - timedelta(hours=2),
        "nihss_items": dict(NIHSS_ELIGIBLE_ITEMS),
        "nihss_un_reason": "",
        "occlusion_site": "MCA_M1",
        "aspects": 8,
        "pc_aspects": None,
        "evt_intended": True,
        "passes": [
            {"technique": "contact_aspiration", "etici": "0"},
            {"technique": "stent_retriever", "etici": "1"},
            {"technique": "combined", "etici": "1"},
        ],
        "consent": "patient",
        "consent_at": now - timedelta(hours=1),
        "ich_on_imaging": False,
        "fpct_major_hemorrhage": False,
        "gi_gu_bleeding_30d": False,
        "major_surgery_14d": False,
        "platelets": Decimal("210"),
        "aptt": Decimal("32.5"),
        "inr": Decimal("1.05"),
        "doac_48h": False,
        "hit_history": False,
        "pregnant_or_lactating": False,
        "contrast_contraindication": False,
        "nickel_titanium_allergy": False,
        "life_expectancy_lt_6m": False,
        "confounding_neuro_psych": False,
        "gfr": Decimal("85"),
        "creatinine": Decimal("80"),
        "creatinine_unit": "umol/L",
        "lab_pending_attested": False,
        "tortuosity_prevents_delivery": False,
        "unlikely_90d_followup": False,
    }
    data.update(overrides)
    return data


def make_screening(*, site, coordinator, **overrides: Any):
    """A screening created through eligibility.services.screening_create (not confirmed)."""
    from eligibility.services import screening_create

    return screening_create(site=site, user=coordinator, data=eligible_screening_data(**overrides))


def make_confirmed_screening(*, site, coordinator, investigator, **overrides: Any):
    """An eligible screening created by `coordinator` and confirmed by `investigator` through
    the real services — ready for randomization.services.subject_randomize."""
    from eligibility.services import screening_confirm

    screening = make_screening(site=site, coordinator=coordinator, **overrides)
    return screening_confirm(screening=screening, user=investigator)
