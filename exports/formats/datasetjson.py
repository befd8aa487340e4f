"""CDISC Dataset-JSON v1.1: one JSON file per table, its metadata from the data dictionary.

Each file is one JSON object: the dataset attributes, "columns" (itemOID as in Define-XML
and ODM, the variable name, the full label, the data type, the declared length, key
sequence), then "rows" (one array per record) and "records". Written as a stream: the
header, then each row as it comes from a server-side cursor, then the count — the table is
never in memory. The JSON text of each row is built by PostgreSQL from the same formatted
values as the CSV (exports.dataset.table_copy_sql), so both carry the same values and Python
only moves text. Valid against the published schema (vendored in
exports/datasetjson_schema/ with its licence).

Values (exports.metadata.TIME_CONVENTION): instants as ISO 8601 UTC strings with whole
seconds and Z; dates as ISO 8601 dates (the site's calendar date); decimals as strings (dataType
and targetDataType "decimal", exact); booleans as 1/0 (integer, as in every other format); code lists as their codes (a
declared code for every "none"); JSON answers as their JSON text; missing values null.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from exports import metadata
from exports.columns import Column

VERSION = "1.1.0"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "datasetjson_schema" / "dataset.schema.json"
STUDY_OID = "ST.ANGEL-RESCUE"
MDV_OID = "MDV.1"

DATA_TYPES = {"text": "string", "json": "string", "integer": "integer", "float": "float",
              "decimal": "decimal", "boolean": "integer", "date": "date", "datetime": "datetime",
              "time": "time"}


def item_oid(table_code: str, name: str) -> str:
    return f"IT.{table_code}.{name.upper()}"


def group_oid(table_code: str) -> str:
    return f"IG.{table_code}"


def iso_utc(v: dt.datetime) -> str:
    return v.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def value_of(c: Column):
    """A function turning a database value of `c` into its Dataset-JSON value."""
    kind = c.kind
    if kind == "boolean":
        # 1/0 as in CSV, SAS, Stata and SPSS (Define-XML 2.1 has no boolean data type).
        return lambda v: None if v is None else int(bool(v))
    if kind == "integer":
        return lambda v: None if v is None else int(v)
    if kind == "float":
        return lambda v: None if v is None else float(v)
    if kind == "decimal":
        return lambda v: None if v is None else format(Decimal(v), "f")
    if kind == "datetime":
        return lambda v: None if v is None else iso_utc(v)
    if kind in ("date", "time"):
        return lambda v: None if v is None else v.isoformat()
    if kind == "json":
        return lambda v: None if v is None else v if isinstance(v, str) else json.dumps(
            v, ensure_ascii=False, sort_keys=True)
    return lambda v: None if v is None else str(v)


KEY_ORDER = ("subject_number", "record_id")


def columns_metadata(table_code: str, columns: list[Column]) -> list[dict]:
    out = []
    for c in columns:
        entry = {"itemOID": item_oid(table_code, c.name), "name": c.name, "label": c.label,
                 "dataType": DATA_TYPES[c.kind]}
        if c.kind == "decimal":
            entry["targetDataType"] = "decimal"
        if c.kind in ("text", "json"):
            entry["length"] = metadata.text_bytes(c)
        if c.kind == "datetime":
            entry["displayFormat"] = "E8601DT19."
        elif c.kind == "date":
            entry["displayFormat"] = "E8601DA10."
        if c.name in KEY_ORDER and c.key:
            entry["keySequence"] = KEY_ORDER.index(c.name) + 1
        out.append(entry)
    return out


JSON_ARGS = 100  # PostgreSQL's limit of function arguments (json_build_array)


def json_rows_sql(sql: str, columns: list[Column]) -> str:
    """Each row of `sql` (CSV-formatted values: instants as ISO UTC text, booleans 1/0) as the
    text of one JSON array, decimals as strings: json_build_array, or for a table of more
    than 100 columns (the limit of its arguments) a chain of ||."""
    names = [f"c{i}" for i in range(len(columns))]
    values = [f"{name}::text" if c.kind in ("decimal", "json") else name
              for name, c in zip(names, columns, strict=True)]
    frm = f"FROM ({sql}) AS t({', '.join(names)})"
    if len(values) <= JSON_ARGS:
        # One function builds the whole array (a chain of || copies the growing text per cell).
        return f"SELECT json_build_array({', '.join(values)})::text {frm}"
    body = " || ',' || ".join(f"coalesce(to_json({v})::text, 'null')" for v in values)
    return f"SELECT '[' || {body} || ']' {frm}"


class _TextRows:
    """Rows already JSON text (from json_rows_sql), read through a server-side cursor."""

    def __init__(self, sql: str, params):
        self.sql, self.params = sql, params

    def __iter__(self):
        for chunk in self.chunks():
            yield from chunk

    def chunks(self):
        """Lists of row texts, fetched ahead by a thread (exports.formats.records.prefetched)."""
        from django.db import connection

        from exports.formats.records import prefetched

        with connection.chunked_cursor() as wrapper:
            cursor = wrapper.cursor
            cursor.execute(self.sql, self.params)
            yield from prefetched(lambda: [text for (text,) in cursor.fetchmany(2000)] or None)


def table_json_rows(table, scope) -> _TextRows | list:
    from django.core.exceptions import EmptyResultSet

    from exports.dataset import table_copy_sql

    try:
        sql, params = table_copy_sql(table, scope)
    except EmptyResultSet:
        return []
    return _TextRows(json_rows_sql(sql, list(table.columns)), params)


def analysis_json_rows(scope) -> _TextRows:
    from exports.analysis import analysis_sql

    sql, params, columns = analysis_sql(scope, for_csv=True)
    return _TextRows(json_rows_sql(sql, columns), params)


def write_dataset(table_code: str, label: str, columns: list[Column], rows: Iterable,
                  path: Path, *, file_oid: str, created: dt.datetime | None = None) -> int:
    """Rows are tuples of database values, or JSON texts of rows (table_json_rows)."""
    created = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    header = {
        "datasetJSONCreationDateTime": created.strftime("%Y-%m-%dT%H:%M:%S"),
        "datasetJSONVersion": VERSION,
        "fileOID": f"{file_oid}.{table_code}",
        "originator": "ANGEL-RESCUE EDC",
        "sourceSystem": {"name": "ANGEL-RESCUE EDC",
                         "version": str(getattr(settings, "EDC_VERSION", "0.1.0"))},
        "studyOID": STUDY_OID,
        "metaDataVersionOID": MDV_OID,
        "metaDataRef": "../define/define.xml",
        "itemGroupOID": group_oid(table_code),
        "name": metadata.dataset_name(table_code),
        "label": label,
        "columns": columns_metadata(table_code, columns),
    }
    convert = [value_of(c) for c in columns]
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        text = json.dumps(header, ensure_ascii=False)
        fh.write(text[:-1])
        fh.write(', "rows": [')
        if isinstance(rows, _TextRows):
            for chunk in rows.chunks():
                fh.write(",\n" if n else "\n")
                fh.write(",\n".join(chunk))
                n += len(chunk)
            rows = ()
        for row in rows:
            fh.write(",\n" if n else "\n")
            if isinstance(row, str):
                fh.write(row)
            else:
                fh.write(json.dumps([f(v) for f, v in zip(convert, row, strict=True)],
                                    ensure_ascii=False))
            n += 1
        fh.write(f'\n], "records": {n}}}\n')
    return n


def validate(path: Path) -> None:
    """Raise jsonschema.ValidationError unless `path` is valid Dataset-JSON v1.1."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(Path(path).read_text(encoding="utf-8")), schema)
