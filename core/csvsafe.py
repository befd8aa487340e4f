"""CSV formula-injection neutralisation (OWASP "CSV Injection").

The OWASP rule: a cell that begins with `=`, `+`, `-`, `@`, a tab (0x09) or a carriage return
(0x0D) is read by spreadsheet programs as a formula; prefix it with a single quote `'` so it is
shown as text. (The csv module already quotes cells containing separators, quotes and line
breaks.) Full-width forms of the trigger characters (＝ ＋ － ＠), which some spreadsheet
programs also accept, are treated the same way.

One documented exception keeps clinical exports analysable: a cell that is a plain number
(`-3.5`, `+2`, `-1e-3`) is not a formula in any spreadsheet and stays as it is; numbers passed
as int/float/Decimal are never touched. Every CSV the system writes goes through `neutralise`
(Python writers) or `sql_neutralise` (tables written by PostgreSQL's COPY).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# The same rule for PostgreSQL (POSIX regular expressions; E'' literals for tab and CR).
_SQL_TRIGGER = "E'^[=+@\\t\\r\\uFF1D\\uFF0B\\uFF0D\\uFF20-]'"
_SQL_NUMBER = "'^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$'"


def neutralise(value: Any) -> Any:
    """The value as a CSV cell that no spreadsheet evaluates as a formula."""
    if not isinstance(value, str) or not value or not value.startswith(TRIGGERS):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def neutralise_row(row: Iterable[Any]) -> list[Any]:
    return [neutralise(v) for v in row]


def sql_neutralise(expression: str) -> str:
    """A SQL expression yielding `expression` (a text value) neutralised by the same rule."""
    return (f"(CASE WHEN ({expression}) ~ {_SQL_TRIGGER} AND ({expression}) !~ {_SQL_NUMBER} "
            f"THEN '''' || ({expression}) ELSE ({expression}) END)")
