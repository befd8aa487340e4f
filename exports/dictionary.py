"""The data dictionary: every variable with label, type, unit, range, code list, SAS names.

The single source of variable metadata for every format: the Column objects (exports.columns,
built from the registry and the model fields) together with the declarations of
exports.metadata (units, ranges, "none" codes, SAS names, widths, the time convention).
CSV, ODM, XPT, DTA, SAV, Dataset-JSON and Define-XML all read these, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

from exports import metadata
from exports.columns import Column, Table
from exports.dataset import Scope
from exports.formats.stat_coding import is_numeric, stat_label, stat_labels

DICTIONARY_HEADER = ["table", "variable", "label", "type", "unit", "allowed_values",
                     "minimum", "maximum", "statistical_coding", "length_bytes", "sas_dataset",
                     "sas_name", "sas_label", "form", "visit", "description"]

TIME_NOTES = {
    "datetime": "UTC instant, ISO 8601 with whole seconds (…Z).",
    "date": "The site's local calendar date (time zone: site_tz).",
}


def _limit(v) -> str:
    if v is None:
        return ""
    return format(v, "f") if hasattr(v, "as_tuple") else str(v)


def _row(table_code: str, c: Column, names: dict[str, list[str]]) -> list[str]:
    coding = stat_labels(c)
    coding_text = "; ".join(f"{k} = {v}" for k, v in coding.items()) if coding and c.choices \
        and not c.kind == "integer" else ""
    description = c.help
    if c.kind in TIME_NOTES:
        description = f"{description} {TIME_NOTES[c.kind]}".strip()
    unit_var = metadata.UNIT_IN_VARIABLE.get((table_code, c.name))
    if unit_var:
        description = f"{description} Unit: see {unit_var}.".strip()
    length = "" if is_numeric(c) or c.kind in ("date", "datetime", "time") else str(metadata.text_bytes(c))

    return [table_code.lower(), c.name, c.label, c.kind, c.unit, c.allowed, _limit(c.minimum),
            _limit(c.maximum), coding_text, length, metadata.dataset_name(table_code),
            " ".join(names[c.name]), metadata.cut_label(stat_label(c), 40), c.form, c.visit,
            description]


def table_groups(tables: list[Table], scope: Scope) -> list[tuple[str, str, list[Column]]]:
    """(table code, label, columns) of every table of an export, the analysis table last."""
    from exports.analysis import analysis_columns

    groups = [(t.code, t.label, list(t.columns)) for t in tables]
    groups.append(("ANALYSIS", "Analysis table", analysis_columns(scope)))
    return groups


def dictionary_rows(tables: list[Table], scope: Scope) -> Iterator[list[str]]:
    for code, _label, columns in table_groups(tables, scope):
        names = metadata.short_names(code, columns)
        for c in columns:
            yield _row(code, c, names)


def dictionary_entries(tables: list[Table], scope: Scope) -> list[dict]:
    return [dict(zip(DICTIONARY_HEADER, row, strict=True)) for row in dictionary_rows(tables, scope)]
