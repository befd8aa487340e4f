"""Derived endpoints (SPEC §1, §6): mRS 0–2 at day 90, death, sICH by each definition.

The only per-form code of the exports app: it reads three follow-up forms by their registry
codes — V5_DAY90 (mRS, date of death), V3_48H (sICH by the three definitions, derived and
stored by followup.sich from the raw components) and DEATH — plus the subject's status.
While a form is not registered its endpoints are "not available" (None / empty), so no
report or export shows a number that could not be computed. None of these is derived from
the arm: they belong in blinded exports too.
"""

from __future__ import annotations

from django.db.models import (
    BooleanField,
    Case,
    DateField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from core import crf as registry
from core.models import SubjectStatus
from exports.columns import Column

# Key → label, in the order the protocol lists them (Heidelberg is primary).
SICH_DEFINITIONS = {
    "sich_heidelberg": "sICH (Heidelberg, primary)",
    "sich_ecass3": "sICH (ECASS III)",
    "sich_sits_most": "sICH (SITS-MOST)",
}
MRS_LABELS = (
    (0, "0 No symptoms"), (1, "1 No significant disability"), (2, "2 Slight disability"),
    (3, "3 Moderate disability"), (4, "4 Moderately severe disability"),
    (5, "5 Severe disability"), (6, "6 Dead"),
)
A = "ANALYSIS"


def _model(code: str, *fields: str):
    try:
        model = registry.get(code).model
    except KeyError:
        return None
    names = {f.name for f in model._meta.concrete_fields}
    return model if set(fields) <= names else None


def _day90():
    return _model("V5_DAY90", "subject", "mrs", "death_on")


def _v48():
    return _model("V3_48H", "subject", *SICH_DEFINITIONS)


def _death():
    return _model("DEATH", "subject", "died_on")


def sich_available() -> bool:
    return _v48() is not None


def _reverse(model) -> str:
    """The lookup from core.Subject to a one-to-one form (e.g. "day90")."""
    return model._meta.get_field("subject").related_query_name()


def outcome_expressions() -> dict:
    """The derived outcome endpoints as SQL expressions over core.Subject (LEFT JOINs of the
    one-to-one day-90 and death forms): the definition the analysis table uses.

    - death: the subject's status is "dead", or a death form exists, or the day-90 mRS is 6;
    - mrs_day90: 6 if dead (SPEC §6: a death recorded anywhere sets the day-90 mRS to 6),
      else the mRS of the day-90 form (NULL when not assessed);
    - mrs_day90_0_2: the primary endpoint, NULL when mrs_day90 is NULL;
    - death_date: from the death form, else the day-90 form.
    """
    day90, death = _day90(), _death()
    if day90 is None and death is None:
        return {}
    dead = Q(status=SubjectStatus.DEAD)
    mrs = Value(None, output_field=IntegerField())
    dates = []
    if death is not None:
        dead |= Q(**{f"{_reverse(death)}__isnull": False})
        dates.append(F(f"{_reverse(death)}__died_on"))
    if day90 is not None:
        dead |= Q(**{f"{_reverse(day90)}__mrs": 6})
        mrs = F(f"{_reverse(day90)}__mrs")
        dates.append(F(f"{_reverse(day90)}__death_on"))
    whens = [When(dead, then=Value(False))]
    if day90 is not None:
        whens += [When(Q(**{f"{_reverse(day90)}__mrs__lte": 2}), then=Value(True)),
                  When(Q(**{f"{_reverse(day90)}__mrs__gt": 2}), then=Value(False))]
    return {
        "mrs_day90": Case(When(dead, then=Value(6)), default=mrs, output_field=IntegerField()),
        "mrs_day90_0_2": Case(*whens, default=Value(None), output_field=BooleanField()),
        "death": Case(When(dead, then=Value(True)), default=Value(False), output_field=BooleanField()),
        "death_date": Coalesce(*dates, output_field=DateField()) if len(dates) > 1
        else ExpressionWrapper(dates[0], output_field=DateField()),
    }


def sich_expressions() -> dict:
    v48 = _v48()
    if v48 is None:
        return {}
    return {k: F(f"{_reverse(v48)}__{k}") for k in SICH_DEFINITIONS}


def providers() -> list:
    """Columns for the analysis table (see exports.analysis.Provider)."""
    from exports.analysis import Provider

    out = []
    outcomes = outcome_expressions()
    if outcomes:
        out.append(Provider([
            Column("mrs_day90", "mRS at day 90 (6 if died)", "integer", "mrs_day90", form=A,
                   choices=MRS_LABELS, minimum=0, maximum=6),
            Column("mrs_day90_0_2", "mRS 0–2 at day 90 (primary endpoint)", "boolean",
                   "mrs_day90_0_2", form=A),
            Column("death", "Died (any form or status)", "boolean", "death", form=A),
            Column("death_date", "Date of death", "date", "death_date", form=A),
        ], annotations=outcomes))
    sich = sich_expressions()
    if sich:
        out.append(Provider([Column(k, label, "boolean", k, form=A,
                                    help="Derived from the 48-hour CRF's raw components")
                             for k, label in SICH_DEFINITIONS.items()], annotations=sich))
    return out


def _annotated(subject_ids: list[int]):
    from core.models import Subject

    # Aliases prefixed "e_": "death" is also the reverse name of the death form.
    return Subject.objects.filter(pk__in=subject_ids).order_by().annotate(
        **{f"e_{k}": v for k, v in {**outcome_expressions(), **sich_expressions()}.items()})


def day90_outcome_subject_ids(subject_ids: list[int]) -> set[int] | None:
    """Subjects with a day-90 outcome (an mRS, or death); None if not computable."""
    if not outcome_expressions():
        return None
    return set(_annotated(subject_ids).filter(e_mrs_day90__isnull=False).values_list("pk", flat=True))


def safety_by_subject(subject_ids: list[int]) -> dict[int, dict]:
    """subject id → {"death": bool, "sich_heidelberg": bool | None, ...} (same expressions as
    the analysis table)."""
    keys = [k for k in ("death", *SICH_DEFINITIONS) if k in {**outcome_expressions(), **sich_expressions()}]
    if not keys:
        return {}
    return {row[0]: dict(zip(keys, row[1:], strict=True))
            for row in _annotated(subject_ids).values_list("pk", *[f"e_{k}" for k in keys])}
