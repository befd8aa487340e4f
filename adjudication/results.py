"""Adjudicated values beside the site's, and the analysis rule.

Rule (the statistical analysis plan's): an endpoint's analysis value is the adjudicated
value when its case is final, else the site's; a flag column says which one was used.

`analysis_providers()` adds these columns to the exports' analysis table (called by
exports.analysis.providers); `site_values()` gives the site's value of every adjudicated
field, for the casebook, the agreement page and the DSMB snapshot.
"""

from __future__ import annotations

from django.db.models import BooleanField, CharField, IntegerField, OuterRef, Subquery, Value, When
from django.db.models import Case as Case_
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact, GreaterThan, IsNull, LessThanOrEqual

from adjudication import protocol
from adjudication.models import Case, CaseStatus
from adjudication.protocol import CaseKind


def _final(kind: str, key: str, output):
    """Correlated subquery: the final adjudicated `key` of the subject's `kind` case."""
    qs = (Case.objects.filter(subject_id=OuterRef("pk"), kind=kind, status=CaseStatus.FINAL)
          .annotate(v=Cast(KeyTextTransform(key, "final_values"), output)).values("v")[:1])
    return Subquery(qs, output_field=output)


def analysis_expressions() -> dict:
    """Column name → expression over core.Subject (the exports' main subject query)."""
    from exports import endpoints

    out = {}
    outcomes = endpoints.outcome_expressions()
    if "mrs_day90" in outcomes:
        adj = _final(CaseKind.MRS, "mrs", IntegerField())
        site = outcomes["mrs_day90"]  # 6 when a death is recorded anywhere (SPEC §6)
        # A death recorded by the site is mRS 6, whatever a recording rated earlier.
        dead = Exact(site, 6)
        analysis = Case_(When(dead, then=Value(6)), default=Coalesce(adj, site), output_field=IntegerField())
        out["mrs_day90_adj"] = adj
        out["mrs_day90_analysis"] = analysis
        out["mrs_day90_src"] = Case_(When(dead, then=Value("site")),
                                     When(IsNull(adj, False), then=Value("adjudicated")),
                                     When(IsNull(site, False), then=Value("site")),
                                     default=Value(None), output_field=CharField())
        out["mrs_day90_0_2_analysis"] = Case_(When(LessThanOrEqual(analysis, 2), then=Value(True)),
                                              When(GreaterThan(analysis, 2), then=Value(False)),
                                              default=Value(None), output_field=BooleanField())
    sich = endpoints.sich_expressions()
    keys = [k for k in protocol.SICH_KEYS if k in sich]
    for key in keys:
        adj = _final(CaseKind.SICH, key, BooleanField())
        out[f"{key}_adj"] = adj
        out[f"{key}_analysis"] = Coalesce(adj, sich[key], output_field=BooleanField())
    if keys:
        adj = _final(CaseKind.SICH, keys[0], BooleanField())
        out["sich_src"] = Case_(When(IsNull(adj, False), then=Value("adjudicated")),
                                When(IsNull(sich[keys[0]], False), then=Value("site")),
                                default=Value(None), output_field=CharField())
    return out


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
    """Providers for exports.analysis (one: annotations over the subject query)."""
    from exports.analysis import Provider
    from exports.columns import Column

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
    return [Provider(cols, annotations=exprs)]


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
