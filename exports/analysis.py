"""The wide analysis table: one row per randomized subject, with the derived endpoints.

One SQL statement, composed from Django querysets and streamed (COPY for CSV, a server-side
cursor for the statistical files), never held in memory:

    SELECT m.*, <provider columns>
    FROM (subjects in scope, LEFT JOIN the one-to-one follow-up forms, endpoints derived by
          CASE expressions) m
    LEFT JOIN (allocation: subject id, arm) a          -- unblinded exports only
    LEFT JOIN (allocation keys → screening fields) b   -- baseline, via the link table
    ORDER BY subject number

The derived endpoints are SQL expressions defined once (exports.endpoints), so the CSV,
SAS/Stata/SPSS files and the reports all read the same definitions.

Providers (each adds columns):
- subject: number, site, randomization instant, status;
- arm — unblinded exports only, never computed for a blinded one;
- baseline from the screening CRF (age, sex, pre-stroke mRS, NIHSS, circulation, occlusion
  site, ASPECTS, pc-ASPECTS);
- outcomes (exports.endpoints): mRS at day 90 and mRS 0–2, death, sICH by each definition.
- central adjudication (adjudication.results): the final adjudicated values, one LEFT JOIN of
  the cases aggregated per subject, and the analysis values derived from them and the site's
  columns in the outer SELECT (Provider.derived).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection
from django.db.models import F, QuerySet

from exports.columns import Column
from exports.dataset import CHUNK_SIZE, Scope, subjects_queryset

A = "ANALYSIS"


def _col(name, label, kind, **kw) -> Column:
    return Column(name=name, label=label, kind=kind, source=name, form=A, **kw)


SUBJECT_COLUMNS = [
    _col("subject_number", "Subject number", "text", key=True),
    _col("site", "Site code", "text", key=True),
    _col("site_tz", "Site time zone (IANA; dates are this zone's calendar dates)", "text", key=True),
    _col("randomized_at", "Randomized at", "datetime"),
    _col("subject_status", "Subject status", "text",
         choices=(("on_study", "On study"), ("completed", "Completed"), ("withdrawn", "Withdrawn"),
                  ("lost", "Lost to follow-up"), ("dead", "Died"))),
]
SUBJECT_EXPRESSIONS = {"subject_number": F("number"), "site": F("site__code"),
                       "site_tz": F("site__time_zone"),
                       "randomized_at": F("randomized_at"), "subject_status": F("status")}
ARM_COLUMN = _col("arm", "Treatment arm", "text",
                  choices=(("STENTING", "Stenting or angioplasty"),
                           ("CONTINUED_MT", "Continued thrombectomy")))
# The randomization beside the arm (unblinded only): stratum, method and the list entry used.
RANDOMIZATION_COLUMNS = [
    ARM_COLUMN,
    _col("stratum", "Randomization stratum (site-circulation)", "text", width=48),
    _col("rand_method", "Randomization method", "text",
         choices=(("blocks", "Stratified permuted blocks"),
                  ("minimisation", "Pocock–Simon minimisation"))),
    _col("list_name", "Allocation list (blocks; empty for minimisation)", "text", width=360),
    _col("list_sequence", "Allocation list entry: sequence within the stratum", "integer"),
]

BASELINE_FIELDS = ["age_years", "sex", "prestroke_mrs", "nihss_baseline", "circulation",
                   "occlusion_site", "aspects", "pc_aspects"]


@dataclass
class Provider:
    columns: list[Column]
    # Expressions evaluated in the main subject query (column name → expression from Subject).
    annotations: dict = field(default_factory=dict)
    # Or a queryset of values(sid=<subject id>, j_<column>=…) LEFT JOINed on the subject id
    # (aliases are prefixed so they never clash with the model's own field names).
    joined: Callable[[Scope], QuerySet] | None = None
    # Columns computed in the outer SELECT from the others: given column name → its SQL
    # there, returns column name → (sql, params) for some of this provider's columns.
    derived: Callable[[dict[str, str]], dict[str, tuple[str, list]]] | None = None


def allocation_model():
    try:
        return apps.get_model("randomization", "Allocation")
    except LookupError:
        return None


def _arm_joined(scope: Scope) -> QuerySet:
    return allocation_model().objects.filter(subject__site_id__in=scope.site_ids) \
        .order_by().values(sid=F("subject_id"), j_arm=F("arm"), j_stratum=F("stratum"),
                           j_rand_method=F("method"), j_list_name=F("entry__list__name"),
                           j_list_sequence=F("entry__sequence"))


def _baseline_provider() -> Provider | None:
    from core import crf as registry
    from exports.columns import subject_ref, table_for

    try:
        screening = registry.get("SCREENING")
    except KeyError:
        return None
    ref = subject_ref(screening)
    if ref is None:
        return None
    by_name = {c.name: c for c in table_for(screening, blinded=True).columns}
    cols = [Column(**{**c.__dict__, "name": f"baseline_{c.name}"[:32], "form": A})
            for n in BASELINE_FIELDS if (c := by_name.get(n))]

    def joined(scope):
        if ref.path:
            qs = screening.model._default_manager.filter(**{f"{ref.path}__site_id__in": scope.site_ids})
            sid, prefix = f"{ref.path}_id" if "__" not in ref.path else f"{ref.path}__id", ""
        else:
            # Only the link's keys and the screening's own fields are read: never the arm.
            qs = ref.link_model._default_manager.filter(
                **{f"{ref.link_subject_field}__site_id__in": scope.site_ids})
            sid, prefix = f"{ref.link_subject_field}_id", f"{ref.link_crf_field}__"
        return qs.order_by().values(sid=F(sid), **{f"j_{c.name}": F(prefix + c.source) for c in cols})

    return Provider(cols, joined=joined)


def providers(scope: Scope) -> list[Provider]:
    from exports import endpoints

    out: list[Provider] = []
    if not scope.blinded and allocation_model() is not None:
        out.append(Provider(list(RANDOMIZATION_COLUMNS), joined=_arm_joined))
    baseline = _baseline_provider()
    if baseline:
        out.append(baseline)
    out.extend(endpoints.providers())
    if apps.is_installed("adjudication"):  # adjudicated beside site values, and the analysis rule
        from adjudication.results import analysis_providers

        out.extend(analysis_providers())
    return out


def analysis_columns(scope: Scope) -> list[Column]:
    cols = list(SUBJECT_COLUMNS)
    for p in providers(scope):
        cols.extend(p.columns)
    return cols


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _csv_format(ref: str, c: Column) -> str:
    """The outer SELECT formats values as the other CSV tables do (exports.dataset)."""
    if c.kind == "boolean":
        return f"({ref})::integer"
    if c.kind == "datetime":
        return f"""to_char({ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    if c.kind == "json":
        return f"({ref})::text"
    return ref


def analysis_sql(scope: Scope, *, for_csv: bool = False) -> tuple[str, list, list[Column]]:
    """(sql, params, columns) of the analysis table, in subject-number order."""
    provs = providers(scope)
    main_exprs = {"sid": F("id"), **SUBJECT_EXPRESSIONS}
    for p in provs:
        main_exprs.update(p.annotations)
    # Aliases prefixed "a_" so they never clash with core.Subject's own field names.
    main = subjects_queryset(scope).order_by().values(**{f"a_{k}": v for k, v in main_exprs.items()})
    sql, params = main.query.sql_with_params()
    params = list(params)
    select = {c.name: f"m.{_quote('a_' + c.name)}" for c in SUBJECT_COLUMNS}
    joins = []
    for i, p in enumerate(provs):
        for c in p.columns:
            if p.joined is None:
                select[c.name] = f"m.{_quote('a_' + c.name)}"
        if p.joined is not None:
            jsql, jparams = p.joined(scope).query.sql_with_params()
            joins.append(f"LEFT JOIN ({jsql}) j{i} ON j{i}.sid = m.a_sid")
            params.extend(jparams)
            for c in p.columns:
                select[c.name] = f"j{i}.{_quote('j_' + c.name)}"
    select_params: dict[str, list] = {}
    for p in provs:
        if p.derived is not None:
            for name, (dsql, dparams) in p.derived(dict(select)).items():
                select[name], select_params[name] = f"({dsql})", list(dparams)
    columns = analysis_columns(scope)
    exprs = [_csv_format(select[c.name], c) if for_csv else select[c.name] for c in columns]
    # the SELECT list's parameters come before those of FROM
    params = [x for c in columns for x in select_params.get(c.name, ())] + params
    statement = (f"SELECT {', '.join(exprs)} FROM ({sql}) m {' '.join(joins)} "
                 f'ORDER BY m.{_quote("a_subject_number")} COLLATE "C"')
    return statement, params, columns


def analysis_rows(scope: Scope) -> Iterator[tuple]:
    """Tuples in analysis_columns() order, one per subject, read through a server-side cursor."""
    sql, params, _columns = analysis_sql(scope)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield from rows
