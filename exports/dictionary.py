"""The data dictionary: every variable with label, type, unit, allowed values, form, visit.

Built from the same Column objects as the exports, so it can never disagree with them.
Chinese labels stand beside the English ones (issue 15): the same columns built in zh-hans,
matched by table and variable name; codes and names are the same in both languages.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import translation

from exports.columns import Column, Table
from exports.dataset import Scope
from exports.formats.stat_coding import stat_labels
from exports.i18n import coded_in, label_in

DICTIONARY_HEADER = ["table", "variable", "label", "type", "unit", "allowed_values",
                     "statistical_coding", "form", "visit", "description",
                     # Chinese beside English (issue 15); codes and names stay as they are.
                     "label_zh", "unit_zh", "allowed_values_zh", "statistical_coding_zh", "description_zh"]
ZH = "zh-hans"


def _coding(c: Column) -> str:
    coding = stat_labels(c)
    return "; ".join(f"{k} = {v}" for k, v in coding.items()) if coding and c.choices \
        and not c.kind == "integer" else ""


def _row(table_code: str, c: Column, zh: Column | None) -> list[str]:
    coding_text = _coding(c)
    if zh is not None:
        zh_values = [label_in(zh.label, ZH), label_in(zh.unit, ZH), coded_in(zh.allowed, ZH), coded_in(_coding(zh), ZH),
                     label_in(zh.help, ZH)]
    else:
        zh_values = [label_in(c.label, ZH), label_in(c.unit, ZH), coded_in(c.allowed, ZH),
                     coded_in(coding_text, ZH), label_in(c.help, ZH)]
    return [table_code.lower(), c.name, c.label, c.kind, c.unit, c.allowed, coding_text,
            c.form, c.visit, c.help, *zh_values]


def _chinese_columns(tables: list[Table], scope: Scope) -> dict[tuple[str, str], Column]:
    from exports.analysis import analysis_columns
    from exports.columns import tables as build_tables

    with translation.override(ZH):
        zh_tables = build_tables(blinded=scope.blinded, codes=[t.code for t in tables])
        out = {(t.code, c.name): c for t in zh_tables for c in t.columns}
        out.update({("ANALYSIS", c.name): c for c in analysis_columns(scope)})
    return out


def dictionary_rows(tables: list[Table], scope: Scope) -> Iterator[list[str]]:
    from exports.analysis import analysis_columns

    zh = _chinese_columns(tables, scope)
    for t in tables:
        for c in t.columns:
            yield _row(t.code, c, zh.get((t.code, c.name)))
    for c in analysis_columns(scope):
        yield _row("ANALYSIS", c, zh.get(("ANALYSIS", c.name)))


def dictionary_entries(tables: list[Table], scope: Scope) -> list[dict]:
    return [dict(zip(DICTIONARY_HEADER, row, strict=True)) for row in dictionary_rows(tables, scope)]
