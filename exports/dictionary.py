"""The data dictionary: every variable with label, type, unit, allowed values, form, visit.

Built from the same Column objects as the exports, so it can never disagree with them.
"""

from __future__ import annotations

from collections.abc import Iterator

from exports.columns import Column, Table
from exports.dataset import Scope
from exports.formats.stat_coding import stat_labels
from exports.i18n import coded_in, label_in

DICTIONARY_HEADER = ["table", "variable", "label", "type", "unit", "allowed_values",
                     "statistical_coding", "form", "visit", "description",
                     # Chinese beside English (issue 15); codes and names stay as they are.
                     "label_zh", "allowed_values_zh", "statistical_coding_zh", "description_zh"]


def _row(table_code: str, c: Column) -> list[str]:
    coding = stat_labels(c)
    coding_text = "; ".join(f"{k} = {v}" for k, v in coding.items()) if coding and c.choices \
        and not c.kind == "integer" else ""
    return [table_code.lower(), c.name, c.label, c.kind, c.unit, c.allowed, coding_text,
            c.form, c.visit, c.help,
            label_in(c.label, "zh-hans"), coded_in(c.allowed, "zh-hans"), coded_in(coding_text, "zh-hans"),
            label_in(c.help, "zh-hans")]


def dictionary_rows(tables: list[Table], scope: Scope) -> Iterator[list[str]]:
    from exports.analysis import analysis_columns

    for t in tables:
        for c in t.columns:
            yield _row(t.code, c)
    for c in analysis_columns(scope):
        yield _row("ANALYSIS", c)


def dictionary_entries(tables: list[Table], scope: Scope) -> list[dict]:
    return [dict(zip(DICTIONARY_HEADER, row, strict=True)) for row in dictionary_rows(tables, scope)]
