"""The wide analysis table: one row per randomized subject, with the derived endpoints.

Read in batches of subjects (keyset pagination on the subject number), so memory holds one
batch whatever the size of the trial. Each batch asks every provider once for its columns.

Providers:
- subject: number, site, randomization instant, status;
- arm (unblinded exports only — never computed for a blinded one);
- baseline from the screening CRF (age, sex, NIHSS, circulation, occlusion site, ASPECTS);
- outcomes (exports.endpoints): mRS at day 90 and mRS 0–2, death, sICH by each definition —
  present when the follow-up forms are registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.apps import apps

from exports.columns import Column
from exports.dataset import Scope, subjects_queryset

BATCH = 1000

A = "ANALYSIS"


def _col(name, label, kind, **kw) -> Column:
    return Column(name=name, label=label, kind=kind, source=name, form=A, **kw)


SUBJECT_COLUMNS = [
    _col("subject_number", "Subject number", "text", key=True),
    _col("site", "Site code", "text", key=True),
    _col("randomized_at", "Randomized at (UTC)", "datetime"),
    _col("subject_status", "Subject status", "text",
         choices=(("on_study", "On study"), ("completed", "Completed"), ("withdrawn", "Withdrawn"),
                  ("lost", "Lost to follow-up"), ("dead", "Died"))),
]
ARM_COLUMN = _col("arm", "Treatment arm", "text",
                  choices=(("STENTING", "Stenting or angioplasty"),
                           ("CONTINUED_MT", "Continued thrombectomy")))

BASELINE_FIELDS = ["age_years", "sex", "prestroke_mrs", "nihss_baseline", "circulation",
                   "occlusion_site", "aspects", "pc_aspects"]


@dataclass
class Provider:
    columns: list[Column]
    fetch: Callable[[list[int], Scope], dict[int, dict]]  # subject id → {column: value}


def allocation_model():
    try:
        return apps.get_model("randomization", "Allocation")
    except LookupError:
        return None


def _arms(ids: list[int], scope: Scope) -> dict[int, dict]:
    model = allocation_model()
    if model is None or scope.blinded:
        return {}
    return {sid: {"arm": arm} for sid, arm in
            model.objects.filter(subject_id__in=ids).values_list("subject_id", "arm")}


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
    cols = [Column(**{**c.__dict__, "name": f"baseline_{c.name}"[:32], "form": A, "source": c.name})
            for n in BASELINE_FIELDS if (c := by_name.get(n))]

    def fetch(ids, scope):
        out: dict[int, dict] = {}
        qs = ref.for_subjects(screening.model._default_manager.all(), ids)
        rows = qs.annotate(_subject_id=ref.id_expr()).values_list(
            "_subject_id", *[c.source for c in cols])
        for sid, *values in rows:
            out[sid] = {c.name: v for c, v in zip(cols, values, strict=True)}
        return out

    return Provider(cols, fetch)


def providers(scope: Scope) -> list[Provider]:
    from exports import endpoints

    out: list[Provider] = []
    if not scope.blinded and allocation_model() is not None:
        out.append(Provider([ARM_COLUMN], _arms))
    baseline = _baseline_provider()
    if baseline:
        out.append(baseline)
    out.extend(endpoints.providers())
    return out


def analysis_columns(scope: Scope) -> list[Column]:
    cols = list(SUBJECT_COLUMNS)
    for p in providers(scope):
        cols.extend(p.columns)
    return cols


def analysis_rows(scope: Scope) -> Iterator[tuple]:
    """Tuples in analysis_columns() order, one per subject, batch by batch."""
    provs = providers(scope)
    cols = analysis_columns(scope)
    names = [c.name for c in cols]
    last = ""
    base = subjects_queryset(scope).values_list("id", "number", "site__code", "randomized_at", "status")
    while True:
        batch = list(base.filter(number__gt=last)[:BATCH])
        if not batch:
            return
        ids = [b[0] for b in batch]
        extra: dict[int, dict] = {i: {} for i in ids}
        for p in provs:
            for sid, values in p.fetch(ids, scope).items():
                extra[sid].update(values)
        for sid, number, site, randomized_at, status in batch:
            row = {"subject_number": number, "site": site, "randomized_at": randomized_at,
                   "subject_status": status, **extra[sid]}
            yield tuple(row.get(n) for n in names)
        last = batch[-1][1]
