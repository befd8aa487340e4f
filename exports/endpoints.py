"""Derived endpoints of the analysis table (SPEC §1, §6): mRS 0–2 at day 90, death, sICH by
each definition. The only per-form code of the exports app: these read the follow-up forms.

Each provider appears only when the forms it reads are registered in core.crf, so the
analysis table never carries a column that could not be filled.
"""

from __future__ import annotations


def providers() -> list:
    return []
