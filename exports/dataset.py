"""What one export may contain (its Scope) and the querysets that stream each table.

The Scope is fixed when the export is requested, from the requesting user's rights
(core.access), and the task that writes the files only obeys it. Querysets are read through
`.iterator(chunk_size=…)` (PostgreSQL server-side cursors) or COPY, never into a list, so an
export of any size holds one chunk of rows at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import (
    Case,
    CharField,
    F,
    Func,
    IntegerField,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Collate

from core.crf import CRF
from exports.columns import Column, Table, site_filter_path_of, subject_ref

CHUNK_SIZE = 2000


@dataclass(frozen=True)
class Scope:
    blinded: bool
    site_ids: tuple[int, ...]  # the sites the export covers (always explicit)
    forms: tuple[str, ...] = ()  # CRF codes; empty = all forms the export may contain

    @property
    def form_codes(self) -> list[str] | None:
        return list(self.forms) or None


def site_filter_path(crf: CRF) -> str | None:
    return site_filter_path_of(crf)


def crf_queryset(crf: CRF, scope: Scope) -> QuerySet:
    qs = crf.model._default_manager.all()
    path = site_filter_path(crf)
    if path is None:
        return qs.none()
    return qs.filter(**{f"{path}__in": scope.site_ids})


def _expression(c: Column, table: Table, *, for_csv: bool):
    if c.name == "visit":
        return Value(table.visit, output_field=CharField())
    if c.name == "subject_number" and not c.source:
        ref = subject_ref(table.crf)
        return ref.number_expr() if ref else Value(None, output_field=CharField())
    if not c.source:
        return Value(None, output_field=CharField())
    if c.recode:
        return recoded(c)
    if c.kind == "json":
        # One JSON text in every format: PostgreSQL's (jsonb key order), as COPY writes it.
        return Cast(F(c.source), TextField())
    if not for_csv:
        return F(c.source)
    # COPY formats values in PostgreSQL; make them match the other formats: booleans 1/0,
    # instants as ISO 8601 in UTC, JSON as its text.
    if c.kind == "boolean":
        return Cast(F(c.source), IntegerField())
    if c.kind == "datetime":
        return IsoUtc(F(c.source))
    if c.kind == "json":
        return Cast(F(c.source), TextField())
    return F(c.source)


def value_expression(c: Column):
    """The expression of a column's exported value (declared codes, JSON as text)."""
    if c.recode:
        return recoded(c)
    if c.kind == "json":
        return Cast(F(c.source), TextField())
    return F(c.source) if c.source else F("pk")


def recoded(c: Column):
    """The column with its declared codes (exports.metadata.NONE_CODES): "" → "none"."""
    return Case(*[When(**{c.source: stored}, then=Value(code)) for stored, code in c.recode],
                default=F(c.source), output_field=CharField())


class IsoUtc(Func):
    """An instant as ISO 8601 in UTC, formatted by PostgreSQL (for COPY)."""

    template = """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    output_field = TextField()


def _ordering(crf: CRF) -> list[str]:
    # Record-id order (the order of entry, an index scan): sorting the wide rows of every form
    # by subject number cost a third of the export time at 10,000 subjects; the analysis
    # table, which analysts read by subject, is in subject-number order.
    return ["pk"]


def table_rows(table: Table, scope: Scope, *, for_csv: bool = False) -> QuerySet:
    """A values_list queryset yielding one tuple per row, in the table's column order."""
    qs = crf_queryset(table.crf, scope).order_by(*_ordering(table.crf))
    exprs = [_expression(c, table, for_csv=for_csv) for c in table.columns]
    return qs.values_list(*exprs)


def stream_rows(qs: QuerySet):
    """The tuples of a values_list queryset read through a server-side cursor without
    Django's per-value conversions (psycopg already returns dates, aware UTC instants,
    Decimals): a third less Python per value for the statistical files."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield from rows


def subjects_queryset(scope: Scope) -> QuerySet:
    from core.models import Subject

    return Subject.objects.filter(site_id__in=scope.site_ids).order_by(Collate("number", "C"))


def table_sql(table: Table, scope: Scope) -> tuple[str, list] | None:
    """SQL of one form's rows with their database values (no CSV formatting), for the
    statistical files (exports.formats.records); None when the scope selects nothing."""
    from django.core.exceptions import EmptyResultSet

    try:
        return table_copy_sql(table, scope, for_csv=False)
    except EmptyResultSet:
        return None


def table_copy_sql(table: Table, scope: Scope, *, for_csv: bool = True) -> tuple[str, list]:
    """SQL of one form's CSV table, values formatted by PostgreSQL (see _expression).

    For a form that reaches its subject through a link table (the screening, through the
    allocation's keys), the subject number comes from a LEFT JOIN on that link instead of a
    correlated subquery per row: the same rows, a third of the time at 10,000 screenings.
    """
    from django.db import connection

    ref = subject_ref(table.crf)
    if ref is None or ref.path:
        return table_rows(table, scope, for_csv=for_csv).query.sql_with_params()
    aliases = [f"c{i}" for i in range(len(table.columns))]
    exprs = {}
    for alias, c in zip(aliases, table.columns, strict=True):
        exprs[alias] = (Value(None, output_field=CharField()) if c.name == "subject_number"
                        else _expression(c, table, for_csv=for_csv))
    inner = crf_queryset(table.crf, scope).order_by().values(_pk=F("pk"), **exprs)
    sql, params = inner.query.sql_with_params()
    link = ref.link_model._default_manager.order_by().values(
        _crf=F(f"{ref.link_crf_field}_id"), _number=F(f"{ref.link_subject_field}__number"))
    link_sql, link_params = link.query.sql_with_params()
    q = connection.ops.quote_name
    select = ", ".join("l._number" if c.name == "subject_number" else f"t.{q(a)}"
                       for a, c in zip(aliases, table.columns, strict=True))
    statement = (f"SELECT {select} FROM ({sql}) t LEFT JOIN ({link_sql}) l ON l._crf = t._pk "
                 f"ORDER BY t._pk")
    return statement, [*params, *link_params]
