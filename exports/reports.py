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
from django.utils.translation import gettext, gettext_noop

from core import access, blinding
from core.models import Site, Subject, SubjectStatus
from core.roles import Action
from exports.analysis import allocation_model
from exports.columns import exported_crfs, site_filter_path_of

ARM_LABELS = {"STENTING": "Stenting or angioplasty", "CONTINUED_MT": "Continued thrombectomy"}


def report_sites(user, action: str = Action.REPORTS):
    return access.scope(Site.objects.order_by("code"), user, action, site_field="pk")


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
    from eligibility.models import ScreeningOutcome
    from eligibility.selectors import LogFilter, screening_log, screening_log_counts
    from exports import endpoints

    sites = list(report_sites(user, Action.SCREENING_LOG))
    ids = [s.pk for s in sites]
    # The first boxes are the screening log's own counts (eligibility.selectors), so the
    # diagram and the log can never disagree.
    log = screening_log_counts(screening_log(user=user, filters=LogFilter()))
    by_outcome = log.by_outcome
    labels = dict(ScreeningOutcome.choices)
    excluded = [{"code": code, "label": str(labels.get(code, code)), "n": n}
                for code, n in sorted(by_outcome.items())
                if code not in (ScreeningOutcome.RANDOMIZED, ScreeningOutcome.OPEN)]
    subjects = Subject.objects.filter(site_id__in=ids)
    status_rows = list(subjects.values_list("id", "status"))
    analysed_ids = endpoints.day90_outcome_subject_ids([s for s, _ in status_rows])
    show_arms = blinding.may_see_arm_everywhere(user, sites) and allocation_model() is not None
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
            per_arm.append({"code": code, "label": gettext(label),
                            **box([r for r in status_rows if arms.get(r[0]) == code])})
    return {
        "screened": sum(by_outcome.values()),
        "in_progress": by_outcome.get(ScreeningOutcome.OPEN, 0),
        "excluded": excluded, "excluded_total": sum(e["n"] for e in excluded),
        "failed_criteria": log.by_failed_criterion,
        "randomized_screenings": by_outcome.get(ScreeningOutcome.RANDOMIZED, 0),
        "all": box(status_rows), "arms": per_arm, "shows_arms": show_arms,
        "day90_available": analysed_ids is not None,
    }


# --- Missing data per form ----------------------------------------------------------------
def missing_data(user) -> list[dict]:
    """Per form: rows, and per field how many rows leave it empty — one query per form."""
    sites = list(report_sites(user))
    ids = [s.pk for s in sites]
    blinded = not blinding.may_see_arm_everywhere(user, sites)
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
    for code, label in [*ARM_LABELS.items(), ("", gettext_noop("Not allocated"))]:
        members = [(sid, st) for sid, st in rows if arms.get(sid, "") == code]
        if not members and not code:
            continue
        n = len(members)
        line = {"code": code, "label": gettext(label), "n": n,
                "deaths": sum(1 for sid, st in members
                              if st == SubjectStatus.DEAD or safety.get(sid, {}).get("death"))}
        for key in endpoints.SICH_DEFINITIONS:
            line[key] = sum(1 for sid, _ in members if safety.get(sid, {}).get(key))
        groups.append(line)
    for g in groups:
        g["death_percent"] = round(100 * g["deaths"] / g["n"], 1) if g["n"] else 0.0
        g["sich"] = [{"key": k, "label": gettext(lab), "n": g[k],
                      "percent": round(100 * g[k] / g["n"], 1) if g["n"] else 0.0}
                     for k, lab in endpoints.SICH_DEFINITIONS.items()]
    return {"groups": groups, "generated_at": dt.datetime.now(dt.UTC),
            "sich_available": endpoints.sich_available(),
            "sites": [s.code for s in sites]}


# --- Visit compliance ---------------------------------------------------------------------
COMPLIANCE_STATES = ("within", "early", "late", "missed", "pending", "not_expected")


def visit_date_field(crf) -> str | None:
    """The field holding when a visit happened: `crf.extra["visit_date_field"]`, else the
    form's first date or date-time field that is not a record timestamp."""
    from django.db import models as djm

    if crf.extra.get("visit_date_field"):
        return crf.extra["visit_date_field"]
    for f in crf.model._meta.concrete_fields:
        if isinstance(f, djm.DateField) and not (getattr(f, "auto_now", False)
                                                  or getattr(f, "auto_now_add", False)):
            return f.name
    return None


def classify(window, happened, *, now, tz, ended_at=None) -> str:
    """within / early / late (form entered, by its visit date), missed (window closed, no
    form), pending (window not closed yet), not_expected (the subject left the study before
    the window opened)."""
    from django.utils import timezone as djtz

    if happened is None:
        if ended_at is not None and ended_at < window.opens:
            return "not_expected"
        return "missed" if now >= window.closes else "pending"
    if isinstance(happened, dt.datetime):
        instant = happened
    else:  # a calendar date in the site's zone: the window in whole local days
        start = djtz.localtime(window.opens, tz).date()
        last = (djtz.localtime(window.closes, tz) - dt.timedelta(microseconds=1)).date()
        return "early" if happened < start else "late" if happened > last else "within"
    if instant < window.opens:
        return "early"
    return "late" if instant >= window.closes else "within"


def visit_compliance(user) -> dict:
    """Per scheduled visit (V2–V5 from followup.schedule): within window, early, late,
    missed, pending — one query per visit form plus one for the subjects."""
    from django.utils import timezone as djtz

    try:
        from followup.schedule import visit_windows
    except ImportError:
        return {"available": False, "visits": []}
    sites = list(report_sites(user))
    blinded = not blinding.may_see_arm_everywhere(user, sites)
    forms = {c.visit: c for c in exported_crfs(blinded=blinded) if c.visit and c.subject_field}
    subjects = list(Subject.objects.filter(site_id__in=[s.pk for s in sites])
                    .select_related("site").only("id", "randomized_at", "status",
                                                 "status_changed_at", "site__time_zone"))
    now = djtz.now()
    result = []
    for_visit: dict[str, dict[int, object]] = {}
    for code, crf in forms.items():
        field = visit_date_field(crf)
        if field:
            for_visit[code] = dict(crf.model._default_manager.filter(
                **{f"{crf.subject_field}__in": [s.pk for s in subjects]})
                .values_list(f"{crf.subject_field}_id", field))
    counts: dict[str, Counter] = {}
    for s in subjects:
        ended = s.status_changed_at if s.status in (SubjectStatus.DEAD, SubjectStatus.WITHDRAWN,
                                                    SubjectStatus.LOST) else None
        for w in visit_windows(s.randomized_at, s.site.tz):
            if w.code not in for_visit:
                continue
            state = classify(w, for_visit[w.code].get(s.pk), now=now, tz=s.site.tz, ended_at=ended)
            counts.setdefault(w.code, Counter())[state] += 1
    for code in sorted(counts):
        c = counts[code]
        done = c["within"] + c["early"] + c["late"]
        due = done + c["missed"]
        result.append({"code": code, "label": forms[code].label, **{k: c[k] for k in COMPLIANCE_STATES},
                       "percent_within": round(100 * c["within"] / due, 1) if due else None})
    return {"available": True, "visits": result}


# --- Query metrics --------------------------------------------------------------------------
def query_metrics(user) -> dict:
    """Open / answered / closed queries per form and site, and the age of open ones — from
    the data-management app's Query model (not available until it is installed)."""
    from django.apps import apps
    from django.utils import timezone as djtz

    try:
        Query = apps.get_model("datamanagement", "Query")
    except LookupError:
        return {"available": False}
    names = {f.name for f in Query._meta.concrete_fields}
    if not {"status", "opened_at", "crf_code", "site"} <= names:
        return {"available": False}
    sites = list(report_sites(user))
    qs = Query.objects.filter(site_id__in=[s.pk for s in sites])
    if not blinding.may_see_arm_everywhere(user, sites):
        # Queries on arm-revealing forms are not counted for blinded viewers.
        qs = qs.exclude(crf_code__in=[c.code for c in exported_crfs(blinded=False) if c.reveals_arm])
    by_status = dict(qs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    now = djtz.now()
    buckets = {"≤ 7 days": 0, "8–30 days": 0, "> 30 days": 0}
    # Open and answered both await a reviewer: both are unresolved.
    open_states = ["open", "answered"]
    ages = []
    for created in qs.filter(status__in=open_states).values_list("opened_at", flat=True):
        days = (now - created).days
        ages.append(days)
        buckets["≤ 7 days" if days <= 7 else "8–30 days" if days <= 30 else "> 30 days"] += 1
    per_form = list(qs.values("crf_code").annotate(
        total=Count("id"), open=Count("id", filter=Q(status__in=open_states)))
        .order_by("crf_code"))
    per_site = list(qs.values("site__code").annotate(
        total=Count("id"), open=Count("id", filter=Q(status__in=open_states))).order_by("site__code"))
    from core import crf as registry
    from datamanagement.models import QueryStatus

    status_labels = dict(QueryStatus.choices)
    forms = {c.code: c for c in registry.all_crfs()}
    for row in per_form:
        row["label"] = forms[row["crf_code"]].label if row["crf_code"] in forms else row["crf_code"]
    return {"available": True, "by_status": by_status, "open_total": sum(by_status.get(s, 0) for s in open_states),
            "status_rows": [(status_labels.get(k, k), n) for k, n in by_status.items()],
            "aging": buckets, "aging_rows": [(gettext(k), n) for k, n in buckets.items()], "median_age": sorted(ages)[len(ages) // 2] if ages else None,
            "per_form": per_form, "per_site": per_site}
