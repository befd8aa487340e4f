"""CSV: one file per form, the analysis table and the data dictionary.

UTF-8 with a byte-order mark, so Excel opens Chinese text intact; RFC 4180 quoting.
Form tables are produced by PostgreSQL itself (COPY (SELECT …) TO STDOUT, streamed chunk by
chunk into the file): the database formats the values and Python only moves bytes, which keeps
a full export within a small factor of a bare COPY of the same tables and memory flat.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import EmptyResultSet
from django.db import connection

from core.csvsafe import neutralise_row, sql_neutralise
from exports.analysis import analysis_sql
from exports.columns import Table
from exports.dataset import Scope, table_copy_sql
from exports.dictionary import DICTIONARY_HEADER, dictionary_rows

BOM = "\ufeff".encode()
# Columns whose values PostgreSQL formats as numbers, 0/1, dates or ISO instants: no cell of
# theirs can start a formula (a negative number is not one, core.csvsafe). All others are
# neutralised in the COPY statement itself.
_SAFE_KINDS = {"integer", "float", "decimal", "boolean", "date", "datetime", "time"}


def neutralised_copy_sql(sql: str, columns) -> str:
    """`sql` with every text cell neutralised against formula injection (core.csvsafe), by
    PostgreSQL, in the same single pass as COPY formats the values."""
    names = [f"c{i}" for i in range(len(columns))]
    cells = ", ".join(name if c.kind in _SAFE_KINDS else sql_neutralise(f"{name}::text")
                      for name, c in zip(names, columns, strict=True))
    return f"SELECT {cells} FROM ({sql}) AS t({', '.join(names)})"


def csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _header(columns) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([c.name for c in columns])
    return buf.getvalue().encode()


def write_table(table: Table, scope: Scope, path: Path) -> int:
    """Stream one form's table into `path` with COPY; returns the number of rows."""
    with open(path, "wb") as fh:
        fh.write(BOM)
        fh.write(_header(table.columns))
        try:
            sql, params = table_copy_sql(table, scope)
        except EmptyResultSet:
            return 0
        sql = neutralised_copy_sql(sql, table.columns)
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for chunk in copy:
                    fh.write(chunk)
            return max(raw.rowcount, 0)


def write_analysis(scope: Scope, path: Path) -> int:
    """The analysis table, formatted and streamed by PostgreSQL like the form tables."""
    sql, params, columns = analysis_sql(scope, for_csv=True)
    sql = neutralised_copy_sql(sql, columns)
    with open(path, "wb") as fh:
        fh.write(BOM)
        fh.write(_header(columns))
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for chunk in copy:
                    fh.write(chunk)
            return max(raw.rowcount, 0)


def write_dictionary(tables: list[Table], scope: Scope, path: Path) -> int:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(DICTIONARY_HEADER)
        n = 0
        for row in dictionary_rows(tables, scope):
            writer.writerow(neutralise_row(row))
            n += 1
    return n
