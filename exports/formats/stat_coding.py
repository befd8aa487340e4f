"""How a column is coded in SAS, Stata and SPSS files.

Stata value labels attach only to numeric variables, so every coded variable is numeric in
all three packages (one coding, documented in the data dictionary):
- booleans: 0 = No, 1 = Yes;
- integer code lists (mRS 0–6): the codes themselves;
- text code lists ("MCA_M1"): 1…n in the order the form lists them, labelled with their text.
"""

from __future__ import annotations

from django.utils.translation import gettext

from exports.columns import Column


def _int_codes(c: Column) -> bool:
    return all(isinstance(code, int) and not isinstance(code, bool) for code, _ in c.choices)


def stat_labels(c: Column) -> dict[int, str]:
    """Value labels: numeric code → label (empty when the column is not coded)."""
    if c.kind == "boolean":
        return {0: "No", 1: "Yes"}
    if not c.choices:
        return {}
    if _int_codes(c):
        return {int(code): str(label) for code, label in c.choices}
    return {i: str(label) for i, (_code, label) in enumerate(c.choices, start=1)}


def is_numeric(c: Column) -> bool:
    return c.kind in ("boolean", "integer", "float", "decimal") or bool(c.choices)


def stat_label(c: Column) -> str:
    label = c.label
    # A unit word ("years") in the label language (the export's, exports.i18n); symbols stay.
    unit = gettext(c.unit) if c.unit else ""
    if unit and c.unit not in label and unit not in label:
        label = f"{label} ({unit})"
    if c.kind == "datetime" and "UTC" not in label:
        label = f"{label} (UTC)"
    return label
