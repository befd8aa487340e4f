"""Derived endpoints (SPEC §1, §6): mRS 0–2 at day 90, death, sICH by each definition.

The only per-form code of the exports app: it reads three follow-up forms by their registry
codes — V5_DAY90 (mRS, date of death), V3_48H (sICH by the three definitions, derived and
stored by followup.sich from the raw components) and DEATH — plus the subject's status.
While a form is not registered its endpoints are "not available" (None / empty), so no
report or export shows a number that could not be computed. None of these is derived from
the arm: they belong in blinded exports too.
"""

from __future__ import annotations

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


def _outcomes(subject_ids: list[int]) -> dict[int, dict]:
    """subject id → {mrs_day90, mrs_day90_0_2, death, death_date}."""
    from core.models import Subject

    out: dict[int, dict] = {}
    statuses = dict(Subject.objects.filter(pk__in=subject_ids).values_list("pk", "status"))
    day90 = _day90()
    mrs = dict.fromkeys(subject_ids)
    death_date = dict.fromkeys(subject_ids)
    if day90 is not None:
        for sid, value, died_on in day90.objects.filter(subject_id__in=subject_ids) \
                .values_list("subject_id", "mrs", "death_on"):
            mrs[sid] = value
            death_date[sid] = died_on
    death = _death()
    dead_on_form = {}
    if death is not None:
        dead_on_form = dict(death.objects.filter(subject_id__in=subject_ids)
                            .values_list("subject_id", "died_on"))
    for sid in subject_ids:
        dead = statuses.get(sid) == SubjectStatus.DEAD or sid in dead_on_form or mrs[sid] == 6
        # SPEC §6: a death recorded anywhere sets the day-90 mRS to 6.
        value = 6 if dead else mrs[sid]
        out[sid] = {
            "mrs_day90": value,
            "mrs_day90_0_2": None if value is None else value <= 2,
            "death": dead,
            "death_date": dead_on_form.get(sid) or death_date[sid],
        }
    return out


def _sich(subject_ids: list[int]) -> dict[int, dict]:
    v48 = _v48()
    if v48 is None:
        return {}
    keys = list(SICH_DEFINITIONS)
    return {row[0]: dict(zip(keys, row[1:], strict=True))
            for row in v48.objects.filter(subject_id__in=subject_ids).values_list("subject_id", *keys)}


def providers() -> list:
    """Columns for the analysis table (see exports.analysis.Provider)."""
    from exports.analysis import Provider

    out = []
    if _day90() is not None or _death() is not None:
        out.append(Provider([
            Column("mrs_day90", "mRS at day 90 (6 if died)", "integer", "mrs_day90", form=A,
                   choices=MRS_LABELS, minimum=0, maximum=6),
            Column("mrs_day90_0_2", "mRS 0–2 at day 90 (primary endpoint)", "boolean",
                   "mrs_day90_0_2", form=A),
            Column("death", "Died (any form or status)", "boolean", "death", form=A),
            Column("death_date", "Date of death", "date", "death_date", form=A),
        ], lambda ids, scope: _outcomes(ids)))
    if sich_available():
        out.append(Provider([Column(k, label, "boolean", k, form=A,
                                    help="Derived from the 48-hour CRF's raw components")
                             for k, label in SICH_DEFINITIONS.items()],
                            lambda ids, scope: _sich(ids)))
    return out


def day90_outcome_subject_ids(subject_ids: list[int]) -> set[int] | None:
    """Subjects with a day-90 outcome (an mRS, or death); None if not computable."""
    if _day90() is None and _death() is None:
        return None
    return {sid for sid, o in _outcomes(subject_ids).items() if o["mrs_day90"] is not None}


def safety_by_subject(subject_ids: list[int]) -> dict[int, dict]:
    """subject id → {"death": bool, "sich_heidelberg": bool | None, ...}."""
    outcomes = _outcomes(subject_ids)
    sich = _sich(subject_ids)
    return {sid: {"death": outcomes[sid]["death"], **sich.get(sid, {})} for sid in subject_ids}
