"""Adjudicated values beside the site's, and the analysis rule.

Rule (the statistical analysis plan's): an endpoint's analysis value is the adjudicated
value when its case is final, else the site's; a flag column says which one was used.

`analysis_providers()` adds these columns to the exports' analysis table (called by
exports.analysis.providers); `site_values()` gives the site's value of every adjudicated
field, for the casebook, the agreement page and the DSMB snapshot.
"""

from __future__ import annotations

from django.contrib.postgres.aggregates import BoolOr
from django.db import connection
from django.db.models import (
    BooleanField,
    CharField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as Case_
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact, GreaterThan, IsNull, LessThanOrEqual

from adjudication import protocol
from adjudication.models import Case, CaseStatus
from adjudication.protocol import CaseKind


def _final(kind: str, key: str, output):
    """Correlated subquery: the final adjudicated `key` of the subject's `kind` case (used for
    a few subjects at a time: analysis_values)."""
    qs = (Case.objects.filter(subject_id=OuterRef("pk"), kind=kind, status=CaseStatus.FINAL)
          .order_by().annotate(v=Cast(KeyTextTransform(key, "final_values"), output)).values("v")[:1])
    return Subquery(qs, output_field=output)


def _final_keys() -> list[tuple[str, str, str, object]]:
    """(column, case kind, key of final_values, output field) of every adjudicated column."""
    from exports import endpoints

    out = []
    if "mrs_day90" in endpoints.outcome_expressions():
        out.append(("mrs_day90_adj", CaseKind.MRS, "mrs", IntegerField()))
    sich = endpoints.sich_expressions()
    out.extend((f"{key}_adj", CaseKind.SICH, key, BooleanField()) for key in protocol.SICH_KEYS if key in sich)
    return out


def analysis_expressions(adj: dict | None = None, site: dict | None = None) -> dict:
    """Column name → expression over core.Subject (the exports' main subject query).

    The one definition of the analysis rule. `adj` (column "<key>_adj" → expression) and
    `site` (site column → expression) replace the default sources: correlated subqueries on
    the final cases and the endpoints' expressions (the export passes references to its
    joined, pre-aggregated cases and to its own site columns: analysis_providers)."""
    from exports import endpoints

    if adj is None:
        adj = {name: _final(kind, key, output) for name, kind, key, output in _final_keys()}
    out = {}
    outcomes = site if site is not None else endpoints.outcome_expressions()
    if "mrs_day90" in outcomes and "mrs_day90_adj" in adj:
        a = adj["mrs_day90_adj"]
        s = outcomes["mrs_day90"]  # 6 when a death is recorded anywhere (SPEC §6)
        # A death recorded by the site is mRS 6, whatever a recording rated earlier.
        dead = Exact(s, 6)
        analysis = Case_(When(dead, then=Value(6)), default=Coalesce(a, s), output_field=IntegerField())
        out["mrs_day90_adj"] = a
        out["mrs_day90_analysis"] = analysis
        out["mrs_day90_src"] = Case_(When(dead, then=Value("site")),
                                     When(IsNull(a, False), then=Value("adjudicated")),
                                     When(IsNull(s, False), then=Value("site")),
                                     default=Value(None), output_field=CharField())
        out["mrs_day90_0_2_analysis"] = Case_(When(LessThanOrEqual(analysis, 2), then=Value(True)),
                                              When(GreaterThan(analysis, 2), then=Value(False)),
                                              default=Value(None), output_field=BooleanField())
    sich = site if site is not None else endpoints.sich_expressions()
    keys = [k for k in protocol.SICH_KEYS if k in sich and f"{k}_adj" in adj]
    for key in keys:
        out[f"{key}_adj"] = adj[f"{key}_adj"]
        out[f"{key}_analysis"] = Coalesce(adj[f"{key}_adj"], sich[key], output_field=BooleanField())
    if keys:
        out["sich_src"] = Case_(When(IsNull(adj[f"{keys[0]}_adj"], False), then=Value("adjudicated")),
                                When(IsNull(sich[keys[0]], False), then=Value("site")),
                                default=Value(None), output_field=CharField())
    return out


def _final_joined(scope) -> QuerySet:
    """The final adjudicated values, one row per subject with a final case (a case is unique
    per subject and kind): one hash-aggregated scan of the cases, LEFT JOINed once by the
    analysis table instead of a correlated subquery per subject and column."""
    aggregates = {}
    for name, kind, key, output in _final_keys():
        value = Cast(KeyTextTransform(key, "final_values"), output)
        aggregate = BoolOr if isinstance(output, BooleanField) else Max
        aggregates[f"j_{name}"] = aggregate(value, filter=Q(kind=kind), output_field=output)
    return (Case.objects.filter(status=CaseStatus.FINAL).order_by()
            .values(sid=F("subject_id")).annotate(**aggregates))


COLUMN_LABELS = {
    "mrs_day90_adj": ("integer", "mRS at day 90, central adjudicated (final reads only)"),
    "mrs_day90_analysis": ("integer", "mRS at day 90 for analysis: adjudicated when final, else site"),
    "mrs_day90_src": ("text", "Source of mrs_day90_analysis: adjudicated / site"),
    "mrs_day90_0_2_analysis": ("boolean", "mRS 0–2 at day 90 for analysis (adjudicated when final, else site)"),
    "sich_heidelberg_adj": ("boolean", "sICH (Heidelberg), committee adjudicated"),
    "sich_heidelberg_analysis": ("boolean", "sICH (Heidelberg) for analysis: adjudicated when final, else site"),
    "sich_ecass3_adj": ("boolean", "sICH (ECASS III), committee adjudicated"),
    "sich_ecass3_analysis": ("boolean", "sICH (ECASS III) for analysis: adjudicated when final, else site"),
    "sich_sits_most_adj": ("boolean", "sICH (SITS-MOST), committee adjudicated"),
    "sich_sits_most_analysis": ("boolean", "sICH (SITS-MOST) for analysis: adjudicated when final, else site"),
    "sich_src": ("text", "Source of the sICH analysis values: adjudicated / site"),
}


def analysis_providers() -> list:
    """Providers for exports.analysis: the adjudicated values LEFT JOINed once
    (_final_joined), the analysis columns derived from them and the site's columns in the
    analysis table's SELECT (analysis_expressions with those references)."""
    from exports.analysis import Provider
    from exports.columns import Column

    keys = _final_keys()
    exprs = analysis_expressions()
    if not exprs:
        return []
    cols = []
    for name in exprs:
        kind, label = COLUMN_LABELS[name]
        extra = {"minimum": 0, "maximum": 6} if name.startswith("mrs_day90") and kind == "integer" else {}
        if name.endswith("_src"):
            extra = {"choices": (("adjudicated", "Adjudicated (final central read)"), ("site", "Site"))}
        cols.append(Column(name, label, kind, name, form="ANALYSIS",
                           help="Central adjudication (adjudication.results)", **extra))
    site_columns = ["mrs_day90", *protocol.SICH_KEYS]

    def derived(select: dict[str, str]) -> dict[str, tuple[str, list]]:
        """SQL of every analysis column over the joined values and the site columns
        (`select`: column name → its SQL in the analysis table's SELECT)."""
        from core.models import Subject

        adj = {name: RawSQL(select[name], (), output_field=output) for name, _k, _key, output in keys}
        site = {name: RawSQL(select[name], (), output_field=IntegerField() if name == "mrs_day90"
                             else BooleanField()) for name in site_columns if name in select}
        query = Subject.objects.all().query
        compiler = query.get_compiler(connection=connection)
        out = {}
        for name, expr in analysis_expressions(adj=adj, site=site).items():
            if name in adj:
                continue  # the joined column itself
            sql, params = compiler.compile(expr.resolve_expression(query, allow_joins=False))
            out[name] = (sql, list(params))
        return out

    return [Provider(cols, joined=_final_joined, derived=derived)]


def analysis_values(subject_ids: list[int]) -> dict[int, dict]:
    """subject id → the analysis columns (the same expressions as the export)."""
    from core.models import Subject

    exprs = analysis_expressions()
    rows = Subject.objects.filter(pk__in=subject_ids).order_by().annotate(
        **{f"r_{k}": v for k, v in exprs.items()}).values_list("pk", *[f"r_{k}" for k in exprs])
    return {row[0]: dict(zip(exprs, row[1:], strict=True)) for row in rows}


def site_values(subject_ids: list[int], *, include_procedure: bool = False) -> dict[int, dict]:
    """subject id → the site's value of each adjudicated field (five queries in all).
    The procedure form's final eTICI only with `include_procedure` (it is a field of the
    arm-revealing form)."""
    from exports import endpoints
    from followup.models import HEIDELBERG_FIELDS, Procedure, Visit48h
    from randomization.models import Allocation

    out: dict[int, dict] = {sid: {} for sid in subject_ids}
    mrs = endpoints.outcome_expressions().get("mrs_day90")
    if mrs is not None:
        from core.models import Subject

        for sid, value in Subject.objects.filter(pk__in=subject_ids).order_by().annotate(
                r=mrs).values_list("pk", "r"):
            out[sid]["mrs"] = value
    screening_of = dict(Allocation.objects.filter(subject_id__in=subject_ids)
                        .values_list("screening_id", "subject_id"))
    from eligibility.models import Screening, ScreeningPass

    for pk, aspects, pc in Screening.objects.filter(pk__in=screening_of).values_list("pk", "aspects", "pc_aspects"):
        out[screening_of[pk]].update({"aspects": aspects, "pc_aspects": pc})
    for screening_id, etici in (ScreeningPass.objects.filter(screening_id__in=screening_of, active=True)
                                .order_by("screening_id", "position").values_list("screening_id", "etici")):
        out[screening_of[screening_id]]["etici_last_pre"] = etici  # the last pass wins
    names = [name for name, _label in HEIDELBERG_FIELDS.values()]
    for row in Visit48h.objects.filter(subject_id__in=subject_ids).values(
            "subject_id", "new_ich", *protocol.SICH_KEYS, *names):
        classes = [code for code, (name, _label) in HEIDELBERG_FIELDS.items() if row[name]]
        out[row["subject_id"]].update({
            "ich": row["new_ich"], "heidelberg": ", ".join(classes) if classes else ("none" if row["new_ich"] is False else None),
            **{k: row[k] for k in protocol.SICH_KEYS}})
    if include_procedure:
        for sid, etici in Procedure.objects.filter(subject_id__in=subject_ids).values_list("subject_id", "final_etici"):
            out[sid]["etici_final"] = etici or None
    return out
