"""The REDCap flat CSV of a record export (raw values, raw headers) written by PostgreSQL.

The same rows as api.redcap.records.RecordExport.rows() — the same instruments, sites, fields,
events and order, all taken from that object, so nothing about who sees what is decided here —
but built as one SQL statement and streamed by COPY (query) TO STDOUT: per event one SELECT of
the subjects LEFT JOINed with the event's forms, per repeating instrument one SELECT numbering
its rows, UNION ALL, ordered by record, event, instrument, instance. The SELECTs that parallel
workers may run form one ordered subquery of their own (the workers sort their shares, the
leader merges them with the others). Text cells are neutralised by core.csvsafe.sql_neutralise
(OWASP), as the export tables are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import DateTimeField, F, Func

from api.redcap.project import raw_expression
from api.redcap.records import RecordExport
from core.csvsafe import TRIGGERS, sql_neutralise
from exports.columns import site_filter_path_of, subject_ref

TEXT_KINDS = {"text", "json"}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def subjects_sql(export: RecordExport) -> tuple[str, list]:
    qs = export.subject_queryset().order_by().values(
        sid=F("pk"), rec=F("number"), site_id_=F("site_id"), site_code=F("site__code"), status_=F("status"))
    return qs.query.sql_with_params()


class _SecondsUTC(Func):
    """An instant in UTC cut to the second (a timestamp): its ::text under DateStyle ISO (set
    for the statement, copy_chunks) is REDCap's datetime_seconds_ymd, the text that
    api.redcap.project.RedcapDateTime writes with to_char — at half the cost (to_char formats
    each field with snprintf; measured on 500,000 values)."""

    template = "date_trunc('second', %(expressions)s AT TIME ZONE 'UTC')"
    output_field = DateTimeField()


def _expression(field):
    """A field's value for _cells_sql: a checkbox field's list as it is stored (jsonb, for the
    `?` test of each choice), an instant cut to the second, else api.redcap.project's raw
    expression."""
    if field.checkbox:
        return F(field.source.source)
    if field.kind == "datetime":
        return _SecondsUTC(F(field.source.source))
    return raw_expression(field.source)


# Compiling an instrument's SELECT through the ORM costs more than reading 10,000 subjects'
# rows: compiled once per process for each (instrument, its sites, its fields) and reused,
# with its cells' SELECT for a restricted export and for a full one (_cells_sql).
_INSTRUMENT_SQL: dict[tuple, tuple[dict[bool, str], tuple]] = {}


def _cached_instrument_sql(export: RecordExport, inst, restricted: bool) -> tuple[str, list]:
    key = (inst.name, inst.kind, inst.site_ids, tuple(f.name for f in inst.fields))
    if key not in _INSTRUMENT_SQL:
        if len(_INSTRUMENT_SQL) > 512:
            _INSTRUMENT_SQL.clear()
        sql, params = _instrument_sql(export, inst)
        _INSTRUMENT_SQL[key] = ({r: _cells_sql(inst, sql, r) for r in (False, True)}, tuple(params))
    variants, params = _INSTRUMENT_SQL[key]
    return variants[restricted], list(params)


def _instrument_sql(export: RecordExport, inst) -> tuple[str, list]:
    if inst.kind == "randomization":
        from randomization.models import Allocation

        qs = Allocation.objects.filter(subject__site_id__in=inst.site_ids).order_by().values(
            sid=F("subject_id"), _pk=F("pk"), c0=F("arm"), c1=F("stratum"), c2=_SecondsUTC(F("randomized_at")))
        return qs.query.sql_with_params()
    if inst.kind == "adjudication":
        from api.redcap import adjudication

        return adjudication.queryset(inst).query.sql_with_params()
    crf = inst.crf
    ref = subject_ref(crf)
    qs = crf.model._default_manager.filter(**{f"{site_filter_path_of(crf)}__in": inst.site_ids}).order_by()
    values = {f"c{n}": _expression(f) for n, f in enumerate(inst.fields)}
    if ref.path:
        sql, params = qs.values(sid=ref.id_expr(), _pk=F("pk"), **values).query.sql_with_params()
    else:
        # Reached through a link table (the screening, through the allocation's two keys): a
        # JOIN on the link instead of a correlated subquery per row.
        inner, inner_params = qs.values(_pk=F("pk"), **values).query.sql_with_params()
        link = ref.link_model._default_manager.order_by().values(
            _crf=F(f"{ref.link_crf_field}_id"), _sid=F(f"{ref.link_subject_field}_id"))
        link_sql, link_params = link.query.sql_with_params()
        sql = f"SELECT l._sid AS sid, t.* FROM ({inner}) t JOIN ({link_sql}) l ON l._crf = t._pk"
        params = [*inner_params, *link_params]
    if not inst.repeating and not _one_per_subject(crf, ref):
        # several rows for a one-per-subject form: the first, as the Python path takes
        sql = f"SELECT DISTINCT ON (sid) * FROM ({sql}) x ORDER BY sid, _pk"
    return sql, params


def _one_per_subject(crf, ref) -> bool:
    if ref.path:
        f = crf.model._meta.get_field(ref.path.split("__")[0])
        return "__" not in ref.path and (f.one_to_one or getattr(f, "unique", False))
    link_crf = ref.link_model._meta.get_field(ref.link_crf_field)
    link_subject = ref.link_model._meta.get_field(ref.link_subject_field)
    return bool(link_crf.one_to_one and link_subject.one_to_one)


def _csv_cell(expr: str) -> str:
    """A text value as Python's csv.writer (QUOTE_MINIMAL) writes it: quoted, with doubled
    quotes, when it holds a comma, a quote or a line break. `expr` should be a column
    reference: it is evaluated several times."""
    return (f"(CASE WHEN strpos({expr}, ',') > 0 OR strpos({expr}, '\"') > 0 OR strpos({expr}, E'\\n') > 0 "
            f"OR strpos({expr}, E'\\r') > 0 THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END)")


# A text value that needs neither neutralising nor quoting (almost every value) is its own
# cell. Telling those apart per value with a regular expression, or even with four strpos,
# was a fifth of the statement (measured on 10,000 subjects), so the test is split:
# - the formula triggers, per value: the first character's code point (ascii(), the code point
#   in a UTF8 database) against core.csvsafe.TRIGGERS — one cheap call;
# - the characters that make csv.writer quote (comma, quote, LF, CR), once per instrument row:
#   one regular expression over all its text values put together (_QUOTE_TEST). A row where
#   some value holds one sends all its text values through the full rule, which is exact for
#   any value. JSON values (which mostly hold commas and quotes) are tested one by one with
#   strpos instead, and do not take part in the row's test.
_TRIGGER_CODES = ", ".join(str(ord(c)) for c in TRIGGERS)
_QUOTE_TEST = "E'[,\"\\n\\r]'"
_QUOTE_CHARS = ("','", "'\"'", "E'\\n'", "E'\\r'")  # SQL literals: comma, quote, LF, CR
_CONCAT_ARGS = 100


def _nested(call: str, args: list[str], limit: int) -> str:
    """`call` (an SQL function call's opening, e.g. "concat(") over the args, nested in groups
    of `limit` (concat and concat_ws take at most 100 arguments)."""
    while len(args) > limit:
        args = [f"{call}{', '.join(args[i:i + limit])})" for i in range(0, len(args), limit)]
    return f"{call}{', '.join(args)})"


def _concatenated(values: list[str]) -> str:
    """The values put together with concat() (NULL counts as empty)."""
    return _nested("concat(", values, _CONCAT_ARGS)


def _has_quote_chars(expr: str) -> str:
    return "(" + " OR ".join(f"strpos({expr}, {ch}) > 0" for ch in _QUOTE_CHARS) + ")"


def _text_cell(expr: str, quote: str) -> str:
    """A text value as its CSV cell: neutralised (core.csvsafe) and quoted as csv.writer does.
    `quote` is true when some text value of the row may need quoting. `expr` should be a
    column reference: it is evaluated several times."""
    return (f"(CASE WHEN ascii({expr}) IN ({_TRIGGER_CODES}) OR {quote} "
            f"THEN {_csv_cell(sql_neutralise(expr))} ELSE {expr} END)")


# What keeps a subquery a level of its own (not pulled up into the query above it, its
# expressions computed once per row and not copied into every reference): a volatile function
# in its select list. clock_timestamp() is volatile and parallel safe; OFFSET 0, the usual
# fence, would keep the statement out of parallel workers (a subquery with LIMIT/OFFSET is not
# parallel safe).
_FENCE = "clock_timestamp() AS _fence"
# Instruments whose SELECT holds correlated subqueries (parallel restricted): their events'
# SELECTs run in the leader, apart from the ones workers may run.
_SERIAL_KINDS = {"adjudication"}


def _cells_sql(inst, sql: str, restricted: bool = False) -> str:
    """The instrument's rows with every value already as its CSV cell text, neutralised and
    quoted (_text_cell). The instrument's SELECT is read behind a fence (_FENCE), with the
    row's quoting test (_QUOTE_TEST), so that its expressions (a CASE, a cast) are computed
    once and not inlined into every reference of a cell's tests; the cells themselves are
    computed in one level above it, behind a fence too. `restricted` (an export of some
    records, or of a date range): only the rows of the export's subjects (s) are read, not
    every row of the instrument (the fence keeps the join's condition from reaching them)."""
    cells, texts = [], []
    for n, f in enumerate(inst.fields):
        value = f"x.c{n}"
        if f.checkbox:
            # a multi-choice list (jsonb, _expression): one 1/0 column per choice (REDCap's
            # field___code)
            cells.extend(f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} ? {_lit(code)} THEN '1' ELSE '0' END "
                         f"AS c{n}_{k}" for k, (code, _label) in enumerate(f.choices))
        elif f.kind == "json":
            cells.append(f"{_text_cell(f'{value}::text', _has_quote_chars(f'{value}::text'))} AS c{n}")
        elif f.kind in TEXT_KINDS:
            texts.append(f"x0.c{n}::text")
            cells.append(f"{_text_cell(f'{value}::text', 'x._quote')} AS c{n}")
        else:
            cells.append(f"({value})::text AS c{n}")
    if not cells:
        return f"SELECT x.sid, x._pk FROM ({sql}) x"
    quote = f", {_concatenated(texts)} ~ {_QUOTE_TEST} AS _quote" if texts else ""
    only = " WHERE x0.sid IN (SELECT s.sid FROM s)" if restricted else ""
    return (f"SELECT {_FENCE}, x.sid, x._pk, {', '.join(cells)} "
            f"FROM (SELECT {_FENCE}, x0.*{quote} FROM ({sql}) x0{only}) x")


# concat_ws takes at most 100 arguments (the separator and 99 cells).
_WS_ARGS = 99


def _joined(cells: list[str]) -> str:
    """The cells (SQL text expressions, never NULL) joined by commas with concat_ws, nested
    in groups of _WS_ARGS. concat_ws appends each cell once to one growing buffer; a chain of
    `||` copies the line built so far at every step, and that copying was most of the cost of
    building a ~400-column line (measured on 10,000 lines of 200 cells: concat_ws 0.12 s,
    a `||` chain 0.19 s)."""
    return _nested("concat_ws(',', ", cells, _WS_ARGS)


def _line(key_parts: list[str], slot_exprs: dict[int, str], width: int) -> str:
    """The row as one CSV line, built by PostgreSQL: the key cells, the row's own cells (NULL
    is an empty cell), and for each run of k columns the row does not fill a literal of k - 1
    commas (an instrument's SELECT fills a few dozen of the ~400 columns; the others cost
    nothing). `key_parts` are never NULL."""
    cells = list(key_parts)
    gap = 0
    for pos in range(len(key_parts), width):
        if pos in slot_exprs:
            if gap:
                cells.append(_lit("," * (gap - 1)))
                gap = 0
            cells.append(f"coalesce({slot_exprs[pos]}, '')")
        else:
            gap += 1
    if gap:
        cells.append(_lit("," * (gap - 1)))
    return _joined(cells)


def copy_sql(export: RecordExport) -> tuple[str, list]:
    """One statement giving the sort keys and the CSV line of every row."""
    header = export.header
    width = len(header)
    subj_sql, subj_params = subjects_sql(export)
    restricted = export.subjects_filtered
    inst_sql = {}
    params_of = {}
    for inst in export.instruments:
        if inst.kind != "subject":
            inst_sql[inst.name], params_of[inst.name] = _cached_instrument_sql(export, inst, restricted)
    event_order = {e.code: n for n, e in enumerate(export.events)}
    inst_order = {i.name: n + 1 for n, i in enumerate(export.instruments)}
    selects: list[_Select] = []

    def slot_expressions(slot, alias: str) -> dict[int, str]:
        inst = slot.instrument
        out = {}
        choice_of: dict[int, int] = {}
        for pos, idx, box in zip(slot.positions, slot.indexes, slot.boxes, strict=True):
            if box is not None:
                k = choice_of[idx] = choice_of.get(idx, -1) + 1
                expr = f"{alias}.c{idx}_{k}"
            elif inst.kind == "subject":
                # a site code and a status code: never a comma, quote or line break
                expr = sql_neutralise({1: "s.site_code", 2: "s.status_"}[idx])
            else:
                expr = f"{alias}.c{idx}"  # already its cell text (_cells_sql)
            if pos in slot.blank_positions and inst.arm_blind_site_ids:
                ids = ",".join(str(int(i)) for i in inst.arm_blind_site_ids)
                expr = f"CASE WHEN s.site_id_ IN ({ids}) THEN NULL ELSE {expr} END"
            out[pos] = expr
        if slot.complete_position is not None:
            out[slot.complete_position] = "'2'" if inst.kind == "subject" else \
                f"CASE WHEN {alias}.sid IS NOT NULL THEN '2' END"
        return out

    for event in export.events:
        single = [export.slots[i.name] for i in export.instruments if i.event == event.code and not i.repeating]
        repeating = [export.slots[i.name] for i in export.instruments if i.event == event.code and i.repeating]
        name = _lit(event.unique_name)
        if single:
            joins, join_params, exprs, present = [], [], {}, []
            for n, slot in enumerate(single):
                inst = slot.instrument
                if inst.kind == "subject":
                    present.append("TRUE")
                else:
                    alias = f"t{n}"
                    joins.append(f"LEFT JOIN ({inst_sql[inst.name]}) {alias} ON {alias}.sid = s.sid")
                    join_params.extend(params_of[inst.name])
                    present.append(f"{alias}.sid IS NOT NULL")
                exprs.update(slot_expressions(slot, f"t{n}"))
            line = _line(["s.rec", name, "''", "''"], exprs, width)
            selects.append(_Select(
                f"SELECT s.rec AS _o1, {event_order[event.code]} AS _o2, 0 AS _o3, 0::bigint AS _o4, "
                f"{line} AS line FROM s {' '.join(joins)} WHERE {' OR '.join(present)}",
                join_params, parallel=all(slot.instrument.kind not in _SERIAL_KINDS for slot in single)))
        for slot in repeating:
            inst = slot.instrument
            exprs = slot_expressions(slot, "t")
            line = _line(["s.rec", name, _lit(inst.name), "(row_number() OVER w)::text"], exprs, width)
            selects.append(_Select(
                f"SELECT s.rec AS _o1, {event_order[event.code]} AS _o2, {inst_order[inst.name]} AS _o3, "
                f"row_number() OVER w AS _o4, {line} AS line "
                f"FROM s JOIN ({inst_sql[inst.name]}) t ON t.sid = s.sid "
                f"WINDOW w AS (PARTITION BY t.sid ORDER BY t._pk)",
                params_of[inst.name], parallel=False))
    if not selects:
        return "", []
    order = 'ORDER BY u._o1 COLLATE "C", u._o2, u._o3, u._o4'
    parts = [x for x in selects if not x.parallel]
    together = [x for x in selects if x.parallel]
    if together:
        # One appendrel of the branches that workers can run: its own ordered subquery
        # (the workers sort their shares, the leader merges them), appended to the others.
        inner = _Select(f"(SELECT * FROM ({' UNION ALL '.join(x.sql for x in together)}) u {order} OFFSET 0)",
                        [p for x in together for p in x.params], parallel=True)
        parts.insert(0, inner)
    sql = f"SELECT u.line FROM ({' UNION ALL '.join(x.sql for x in parts)}) u {order}"
    params = [p for x in parts for p in x.params]
    return f"WITH s AS NOT MATERIALIZED ({subj_sql}) {sql}", [*subj_params, *params]


@dataclass
class _Select:
    """One SELECT of the UNION ALL: its SQL, its parameters, and whether a parallel worker may
    run it."""

    sql: str
    params: list
    parallel: bool


# The sorts run in memory (the default 4 MB spills the ~20 MB of lines of 10,000 subjects to
# disk); for this statement only (set_config(..., is_local)). The statement is planned for
# parallel workers: the per-row work is in expressions the planner does not cost (the lines),
# so a parallel plan is cheaper than its estimate says; the settings lower what the planner
# charges for passing rows from workers and let it split small tables, for this statement
# only. Starting workers keeps its price (parallel_setup_cost): a small SELECT (a repeating
# instrument with few rows, a small export) is not worth a worker's start. Where the server
# gives no workers (max_parallel_workers_per_gather = 0, all busy) the leader runs it all,
# with the same result.
STATEMENT_SETTINGS = {
    "work_mem": "128MB",
    "DateStyle": "ISO, MDY",  # dates and instants printed by ::text (_cells_sql) in ISO form
    "parallel_tuple_cost": "0.0001",
    "min_parallel_table_scan_size": "0",
}
CHUNK = 256 * 1024  # bytes of lines per chunk yielded

# COPY's text format escapes a backslash and six control characters in each line; a chunk
# holding a backslash is put back as the query gave it (an escape never spans rows, and a
# chunk is whole rows).
_UNESCAPE = {b"\\\\": b"\\", b"\\b": b"\b", b"\\f": b"\f", b"\\n": b"\n", b"\\r": b"\r",
             b"\\t": b"\t", b"\\v": b"\v"}
_ESCAPED = re.compile(rb"\\[\\bfnrtv]")


def _unescaped(chunk: bytes) -> bytes:
    if b"\\" not in chunk:
        return chunk
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(0)], chunk)


def copy_chunks(export: RecordExport):
    """Yield the CSV (header, then the lines PostgreSQL built) as bytes. The lines come by
    COPY (query) TO STDOUT, row by row as the server sends them (never all in memory): COPY,
    unlike a cursor (DECLARE), may use parallel workers."""
    from django.core.exceptions import EmptyResultSet
    from django.db import transaction

    from api.redcap.render import csv_line

    yield csv_line(export.header).encode()
    try:
        sql, params = copy_sql(export)
    except EmptyResultSet:
        return
    if not sql:
        return
    count_sql, count_params = subjects_sql(export)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({count_sql}) c", count_params)
        export.records_returned = cursor.fetchone()[0]
        cursor.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _ in STATEMENT_SETTINGS),
                       [v for item in STATEMENT_SETTINGS.items() for v in item])
        # (COPY takes no server-side parameters: Django's cursor binds them client side, as
        # for every statement, and exports.formats.csv_format copies the same way)
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            batch, size = [], 0
            for data in copy:
                batch.append(data)
                size += len(data)
                if size >= CHUNK:
                    yield _unescaped(b"".join(batch))
                    batch, size = [], 0
            if batch:
                yield _unescaped(b"".join(batch))
