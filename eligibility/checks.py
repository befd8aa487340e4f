"""The edit checks of the screening CRF (SPEC §4, §8) as its registry entry declares them
(core.crf: CRF.checks); the one write guard runs them on every save. Numbers: core.protocol.

The screening form also validates what is typed before it is stored (eligibility.validation:
impossible values with the field's own label, "pending" labs); these checks run on the stored
values, on every path, including corrections through a query.
"""

from __future__ import annotations

from core import protocol as P
from datamanagement.editchecks import (
    hard,
    in_range,
    lab_breach_after_enrollment,
    lab_pending_under_attestation,
    nihss_item_ranges,
    nihss_rule,
    soft,
    time_order,
)
from datamanagement.messages import lazy as _


def screening_unusual_values():
    """Soft checks of the screening CRF: its usual ranges live with its allowed ranges in
    core.protocol, read through the pure eligibility.validation."""

    def test(data, ctx):
        from eligibility.validation import unusual_by_field

        return unusual_by_field(data)

    return test


_ORDER_RULE = _("last known well ≤ arterial puncture ≤ randomization ≤ reperfusion")

_PRESTROKE_MAX = int(P.RANGES["prestroke_mrs"].high)  # the form's allowed range (IN2 is 0–1)

SCREENING = (
    hard("NIHSS_ITEM_RANGE", "nihss_items", nihss_rule(), nihss_item_ranges("nihss_items")),
    hard("NIHSS_TOTAL_RANGE", "nihss_baseline", _("NIHSS total 0–%(max)s") % {"max": P.NIHSS_MAX_TOTAL},
         in_range("nihss_baseline", 0, P.NIHSS_MAX_TOTAL, _("NIHSS total"))),
    hard("PRESTROKE_MRS_RANGE", "prestroke_mrs", _("pre-stroke mRS 0–%(max)s") % {"max": _PRESTROKE_MAX},
         in_range("prestroke_mrs", 0, _PRESTROKE_MAX, _("pre-stroke mRS"))),
    hard("TIME_ORDER", "arterial_puncture_at", _ORDER_RULE, time_order()),
    *[soft(f"LAB_BREACH_{lab.upper()}", lab,
           _("a lab pending at enrollment must not breach an eligibility threshold later"),
           lab_breach_after_enrollment(lab), deviation=True)
      for lab in P.PENDABLE_LABS],
    *[soft(f"LAB_PENDING_{lab.upper()}", lab,
           _("a lab may be pending only under the investigator's attestation; its result is due"),
           lab_pending_under_attestation(lab))
      for lab in P.PENDABLE_LABS],
    soft("UNUSUAL_VALUE", "age_years", _("unusual but possible value (usual ranges: core/protocol.py)"),
         screening_unusual_values()),
)
