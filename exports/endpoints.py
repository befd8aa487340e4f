"""Derived endpoints (SPEC §1, §6): mRS 0–2 at day 90, death, sICH by each definition.

The only per-form code of the exports app: it reads the follow-up forms. Each function says
"not available" (None / empty) while the forms it needs are not registered in core.crf, so
no report or export shows a number that could not be computed.
"""

from __future__ import annotations

# Key → label, in the order the protocol lists them (Heidelberg is primary).
SICH_DEFINITIONS = {
    "sich_heidelberg": "sICH (Heidelberg)",
    "sich_ecass3": "sICH (ECASS III)",
    "sich_sits_most": "sICH (SITS-MOST)",
}


def providers() -> list:
    """Columns for the analysis table (see exports.analysis.Provider)."""
    return []


def day90_outcome_subject_ids(subject_ids: list[int]) -> set[int] | None:
    """Subjects with a day-90 outcome (mRS recorded, or death); None if not computable."""
    return None


def sich_available() -> bool:
    return False


def safety_by_subject(subject_ids: list[int]) -> dict[int, dict]:
    """subject id → {"death": bool, "sich_heidelberg": bool, ...} (empty when unavailable)."""
    return {}
