"""Report selectors: enrollment, CONSORT flow, visit compliance, query metrics, missing data,
DSMB safety. Every one takes the user and applies site scope (Action.REPORTS) and blinding
(counts per arm only for users who may see the arm at every site in their scope).

Each returns plain dicts for the templates, charts (json_script) and the DSMB PDF, and runs a
fixed number of queries whatever the number of subjects (aggregates in the database).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth

from core import access
from core.models import Site, Subject, SubjectStatus
from core.roles import Action
from exports.analysis import allocation_model
from exports.columns import exported_crfs, site_filter_path_of

ARM_LABELS = {"STENTING": "Stenting or angioplasty", "CONTINUED_MT": "Continued thrombectomy"}


def report_sites(user, action: str = Action.REPORTS):
    return access.scope(Site.objects.order_by("code"), user, action, site_field="pk")


def sees_arm_in_scope(user, sites) -> bool:
    """Per-arm numbers only for a user who sees the arm at every site of the report."""
    if not access.sees_arm(user):
        return False
    return all(access.sees_arm_at(user, s) for s in sites)


def _arms_by_subject(site_ids) -> dict[int, str]:
    model = allocation_model()
    if model is None:
        return {}
    return dict(model.objects.filter(subject__site_id__in=site_ids)
                .values_list("subject_id", "arm"))


# --- Enrollment ---------------------------------------------------------------------------
def enrollment(user) -> dict:
    from eligibility.models import Screening

    sites = list(report_sites(user))
    ids = [s.pk for s in sites]
    randomized = dict(Subject.objects.filter(site_id__in=ids).values_list("site_id")
                      .annotate(n=Count("id")).values_list("site_id", "n"))
    screened = dict(Screening.objects.filter(site_id__in=ids).values_list("site_id")
                    .annotate(n=Count("id")).values_list("site_id", "n"))
    rows = [{"code": s.code, "name": s.name, "target": s.enrollment_target,
             "screened": screened.get(s.pk, 0), "randomized": randomized.get(s.pk, 0),
             "percent": round(100 * randomized.get(s.pk, 0) / s.enrollment_target)
             if s.enrollment_target else None} for s in sites]
    months = (Subject.objects.filter(site_id__in=ids).annotate(month=TruncMonth("randomized_at"))
              .values_list("month").annotate(n=Count("id")).values_list("month", "n")
              .order_by("month"))
    cumulative, total = [], 0
    for month, n in months:
        total += n
        cumulative.append({"month": month.strftime("%Y-%m"), "n": n, "cumulative": total})
    return {
        "sites": rows, "over_time": cumulative,
        "total": {"target": sum(s.enrollment_target for s in sites),
                  "screened": sum(r["screened"] for r in rows),
                  "randomized": sum(r["randomized"] for r in rows)},
    }


# --- CONSORT ------------------------------------------------------------------------------
def consort(user) -> dict:
    """Screened → excluded by reason → randomized → allocated per arm (unblinded viewers only)
    → lost / withdrawn → analysed at day 90. All counts come from the screening log, the
    subjects, their allocations and the day-90 outcome (exports.endpoints)."""
    from eligibility.models import Screening, ScreeningOutcome
    from exports import endpoints

    sites = list(report_sites(user, Action.SCREENING_LOG))
    ids = [s.pk for s in sites]
    screenings = Screening.objects.filter(site_id__in=ids)
    by_outcome = dict(screenings.values_list("outcome").annotate(n=Count("id"))
                      .values_list("outcome", "n"))
    labels = dict(ScreeningOutcome.choices)
    excluded = [{"code": code, "label": str(labels.get(code, code)), "n": n}
                for code, n in sorted(by_outcome.items())
                if code not in (ScreeningOutcome.RANDOMIZED, ScreeningOutcome.OPEN)]
    criteria = Counter()
    for failed in screenings.filter(outcome=ScreeningOutcome.CLOSED_INELIGIBLE) \
            .values_list("verdict_failed", flat=True):
        criteria.update(failed or [])
    subjects = Subject.objects.filter(site_id__in=ids)
    status_rows = list(subjects.values_list("id", "status"))
    analysed_ids = endpoints.day90_outcome_subject_ids([s for s, _ in status_rows])
    show_arms = sees_arm_in_scope(user, sites) and allocation_model() is not None
    arms = _arms_by_subject(ids) if show_arms else {}

    def box(rows):
        return {
            "randomized": len(rows),
            "withdrawn": sum(1 for _, st in rows if st == SubjectStatus.WITHDRAWN),
            "lost": sum(1 for _, st in rows if st == SubjectStatus.LOST),
            "analysed": None if analysed_ids is None else sum(1 for sid, _ in rows
                                                               if sid in analysed_ids),
        }

    per_arm = []
    if show_arms:
        for code, label in ARM_LABELS.items():
            per_arm.append({"code": code, "label": label,
                            **box([r for r in status_rows if arms.get(r[0]) == code])})
    return {
        "screened": sum(by_outcome.values()),
        "in_progress": by_outcome.get(ScreeningOutcome.OPEN, 0),
        "excluded": excluded, "excluded_total": sum(e["n"] for e in excluded),
        "failed_criteria": sorted(criteria.items()),
        "randomized_screenings": by_outcome.get(ScreeningOutcome.RANDOMIZED, 0),
        "all": box(status_rows), "arms": per_arm, "shows_arms": show_arms,
        "day90_available": analysed_ids is not None,
    }


# --- Missing data per form ----------------------------------------------------------------
def missing_data(user) -> list[dict]:
    """Per form: rows, and per field how many rows leave it empty — one query per form."""
    sites = list(report_sites(user))
    ids = [s.pk for s in sites]
    blinded = not sees_arm_in_scope(user, sites)
    from exports.columns import table_for

    out = []
    for crf in exported_crfs(blinded=blinded):
        path = site_filter_path_of(crf)
        if path is None:
            continue
        table = table_for(crf, blinded=blinded)
        fields = [c for c in table.columns if not c.key and "__" not in c.source
                  and not c.source.endswith("_id")]
        aggregates = {"rows": Count("pk")}
        for i, c in enumerate(fields):
            empty = Q(**{f"{c.source}__isnull": True})
            if c.kind == "text":
                empty |= Q(**{c.source: ""})
            aggregates[f"f{i}"] = Count("pk", filter=empty)
        result = crf.model._default_manager.filter(**{f"{path}__in": ids}).aggregate(**aggregates)
        rows = result["rows"]
        items = [{"name": c.name, "label": c.label, "missing": result[f"f{i}"],
                  "percent": round(100 * result[f"f{i}"] / rows, 1) if rows else 0.0}
                 for i, c in enumerate(fields)]
        items.sort(key=lambda x: -x["missing"])
        out.append({"code": crf.code, "label": crf.label, "visit": crf.visit or "",
                    "rows": rows, "fields": items,
                    "complete_percent": round(100 - sum(x["percent"] for x in items) / len(items), 1)
                    if items and rows else None})
    return out


# --- DSMB safety report (statistician only) ------------------------------------------------
def dsmb(user) -> dict:
    """sICH (each definition) and deaths by arm, for the unblinded statistician."""
    from exports import endpoints

    access.require(user, Action.DSMB_REPORT)
    sites = list(report_sites(user, Action.DSMB_REPORT))
    ids = [s.pk for s in sites]
    rows = list(Subject.objects.filter(site_id__in=ids).values_list("id", "status"))
    arms = _arms_by_subject(ids)
    safety = endpoints.safety_by_subject([sid for sid, _ in rows])
    groups = []
    for code, label in [*ARM_LABELS.items(), ("", "Not allocated")]:
        members = [(sid, st) for sid, st in rows if arms.get(sid, "") == code]
        if not members and not code:
            continue
        n = len(members)
        line = {"code": code, "label": label, "n": n,
                "deaths": sum(1 for sid, st in members
                              if st == SubjectStatus.DEAD or safety.get(sid, {}).get("death"))}
        for key in endpoints.SICH_DEFINITIONS:
            line[key] = sum(1 for sid, _ in members if safety.get(sid, {}).get(key))
        groups.append(line)
    for g in groups:
        g["death_percent"] = round(100 * g["deaths"] / g["n"], 1) if g["n"] else 0.0
        g["sich"] = [{"key": k, "label": lab, "n": g[k],
                      "percent": round(100 * g[k] / g["n"], 1) if g["n"] else 0.0}
                     for k, lab in endpoints.SICH_DEFINITIONS.items()]
    return {"groups": groups, "generated_at": dt.datetime.now(dt.UTC),
            "sich_available": endpoints.sich_available(),
            "sites": [s.code for s in sites]}
