"""The data dictionary: every variable with label, type, unit, range, code list, SAS names.

The single source of variable metadata for every format: the Column objects (exports.columns,
built from the registry and the model fields) together with the declarations of
exports.metadata (units, ranges, "none" codes, SAS names, widths, the time convention).
CSV, ODM, XPT, DTA, SAV, Dataset-JSON and Define-XML all read these, so they never disagree.

Chinese labels stand beside the English ones (issue 15): the same columns built in zh-hans,
matched by table and variable name; codes and names are the same in both languages.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import translation

from exports import metadata
from exports.columns import Column, Table
from exports.dataset import Scope
from exports.formats.stat_coding import is_numeric, stat_label, stat_labels
from exports.i18n import coded_in, label_in

DICTIONARY_HEADER = ["table", "variable", "label", "type", "unit", "allowed_values",
                     "minimum", "maximum", "statistical_coding", "length_bytes", "sas_dataset",
                     "sas_name", "sas_label", "form", "visit", "description",
                     # Chinese beside English (issue 15); codes and names stay as they are.
                     "label_zh", "unit_zh", "allowed_values_zh", "statistical_coding_zh", "description_zh"]
ZH = "zh-hans"

TIME_NOTES = {
    "datetime": "UTC instant, ISO 8601 with whole seconds (…Z).",
    "date": "The site's local calendar date (time zone: site_tz).",
}


def _limit(v) -> str:
    if v is None:
        return ""
    return format(v, "f") if hasattr(v, "as_tuple") else str(v)


def _coding(c: Column) -> str:
    coding = stat_labels(c)
    return "; ".join(f"{k} = {v}" for k, v in coding.items()) if coding and c.choices \
        and not c.kind == "integer" else ""


def _description(table_code: str, c: Column, language: str = "en") -> str:
    description = label_in(c.help, language) if language != "en" else c.help
    if c.kind in TIME_NOTES:
        description = f"{description} {label_in(TIME_NOTES[c.kind], language)}".strip()
    unit_var = metadata.UNIT_IN_VARIABLE.get((table_code, c.name))
    if unit_var:
        note = label_in("Unit: see {variable}.", language).format(variable=unit_var)
        description = f"{description} {note}".strip()
    return description


def _allowed_in(c: Column, language: str) -> str:
    """Allowed values in `language`: code labels, and a range's unit word ("0–120 years")."""
    if c.unit and not c.choices and c.kind != "boolean" and (c.minimum is not None or c.maximum is not None):
        lo = "" if c.minimum is None else c.minimum
        hi = "" if c.maximum is None else c.maximum
        return f"{lo}–{hi} {label_in(c.unit, language)}"
    return coded_in(c.allowed, language)


def _chinese(table_code: str, c: Column, zh: Column | None) -> list[str]:
    zh = zh or c
    return [label_in(zh.label, ZH), label_in(zh.unit, ZH), _allowed_in(zh, ZH), coded_in(_coding(zh), ZH),
            _description(table_code, zh, ZH)]


def _row(table_code: str, c: Column, names: dict[str, list[str]], zh: Column | None = None) -> list[str]:
    coding_text = _coding(c)
    description = _description(table_code, c)
    length = "" if is_numeric(c) or c.kind in ("date", "datetime", "time") else str(metadata.text_bytes(c))

    return [table_code.lower(), c.name, c.label, c.kind, c.unit, c.allowed, _limit(c.minimum),
            _limit(c.maximum), coding_text, length, metadata.dataset_name(table_code),
            " ".join(names[c.name]), metadata.cut_label(stat_label(c), 40), c.form, c.visit,
            description, *_chinese(table_code, c, zh)]


def table_groups(tables: list[Table], scope: Scope) -> list[tuple[str, str, list[Column]]]:
    """(table code, label, columns) of every table of an export, the analysis table last."""
    from exports.analysis import analysis_columns

    groups = [(t.code, t.label, list(t.columns)) for t in tables]
    groups.append(("ANALYSIS", "Analysis table", analysis_columns(scope)))
    return groups


def chinese_columns(tables: list[Table], scope: Scope) -> dict[tuple[str, str], Column]:
    """(table code, variable) → the column built in Chinese (labels, units, code labels)."""
    from exports.columns import tables as build_tables

    with translation.override(ZH):
        zh_tables = build_tables(blinded=scope.blinded, codes=[t.code for t in tables])
        return {(code, c.name): c for code, _label, columns in table_groups(zh_tables, scope) for c in columns}


def dictionary_rows(tables: list[Table], scope: Scope) -> Iterator[list[str]]:
    zh = chinese_columns(tables, scope)
    for code, _label, columns in table_groups(tables, scope):
        names = metadata.short_names(code, columns)
        for c in columns:
            yield _row(code, c, names, zh.get((code, c.name)))


def dictionary_entries(tables: list[Table], scope: Scope) -> list[dict]:
    return [dict(zip(DICTIONARY_HEADER, row, strict=True)) for row in dictionary_rows(tables, scope)]
