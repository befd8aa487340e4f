"""The DSMB pack: the snapshot rows frozen at a data cut-off, and the closed (by arm) and
open (pooled) reports computed from them alone — so a report of a cut-off can be produced
again, identical, at any later time.

`snapshot_rows()` reads the database (one pass, a fixed number of queries); `closed_report`
and `open_report` are pure functions of the stored rows. The open report never reads the
arm key of a row.
"""

from __future__ import annotations

import statistics
from collections import Counter

from django.utils.translation import gettext as _

MRS_LEVELS = list(range(7))
SICH = (("sich_heidelberg", "sICH (Heidelberg, primary)"), ("sich_ecass3", "sICH (ECASS III)"),
        ("sich_sits_most", "sICH (SITS-MOST)"))


def as_of(model, cut_off, **filters) -> dict[int, dict]:
    """Object id → the object's field values as they stood at `cut_off`, read from its
    pghistory event table (a snapshot of the row at every INSERT and UPDATE): the latest
    version whose own time stamp is at or before the cut-off. The stamp is the row's
    `updated_at` (set at every save through a service) or, for rows without one, the given
    model's own instant; objects created after the cut-off have no such version."""
    from django.apps import apps

    event = apps.get_model(model._meta.app_label, f"{model.__name__}Event")
    names = {f.name for f in model._meta.concrete_fields}
    stamp = "updated_at" if "updated_at" in names else "created_at"
    rows = (event.objects.filter(**{f"{stamp}__lte": cut_off}, **filters)
            .order_by("pgh_obj_id", f"-{stamp}", "-pgh_id").distinct("pgh_obj_id").values())
    return {row["pgh_obj_id"]: row for row in rows}


def _subject_status_as_of(cut_off, ids) -> dict[int, str]:
    """A subject's status at the cut-off: that of its latest version whose status change (or
    creation) came at or before it; on study when none did."""
    from django.apps import apps
    from django.db.models.functions import Coalesce

    from core.models import SubjectStatus

    event = apps.get_model("core", "SubjectEvent")
    found = dict(event.objects.filter(pgh_obj_id__in=ids)
                 .annotate(at=Coalesce("status_changed_at", "created_at")).filter(at__lte=cut_off)
                 .order_by("pgh_obj_id", "-at", "-pgh_id").distinct("pgh_obj_id")
                 .values_list("pgh_obj_id", "status"))
    return {sid: found.get(sid, SubjectStatus.ON_STUDY) for sid in ids}


def snapshot_rows(cut_off) -> list[dict]:
    """One JSON-serialisable row per subject randomized at or before the cut-off, with the data
    as it stood at the cut-off: every form value is the version saved by then (pghistory
    event tables, `as_of`), the subject's status the one it had then, an adjudicated value only
    if its case was final by then, an SAE only if reported by then. Later changes are not in
    it, so a snapshot rebuilt for the same cut-off is the same.

    The analysis rule as in adjudication.results: mRS 6 when a death is recorded (status dead,
    a death form, or a day-90 mRS of 6), else the adjudicated mRS when final, else the site's."""
    from adjudication.models import Case, CaseStatus
    from adjudication.protocol import CaseKind
    from core.models import Subject
    from eligibility.models import Screening
    from followup.models import AdverseEvent, Day90, Death, Visit48h
    from randomization.models import Allocation

    subjects = list(Subject.objects.filter(randomized_at__lte=cut_off).select_related("site")
                    .order_by("number"))
    ids = [s.pk for s in subjects]
    status = _subject_status_as_of(cut_off, ids)
    alloc = {sid: (arm, scr) for sid, arm, scr in
             Allocation.objects.filter(subject_id__in=ids).values_list("subject_id", "arm", "screening_id")}
    baseline = as_of(Screening, cut_off, pgh_obj_id__in=[a[1] for a in alloc.values()])
    day90 = {r["subject_id"]: r for r in as_of(Day90, cut_off, subject_id__in=ids).values()}
    dead_forms = {r["subject_id"] for r in as_of(Death, cut_off, subject_id__in=ids).values()}
    v48 = {r["subject_id"]: r for r in as_of(Visit48h, cut_off, subject_id__in=ids).values()}
    adjudicated = {(sid, kind): values for sid, kind, values in Case.objects.filter(
        subject_id__in=ids, status=CaseStatus.FINAL, finalized_at__lte=cut_off,
        kind__in=[CaseKind.MRS, CaseKind.SICH]).values_list("subject_id", "kind", "final_values")}
    outcome_label = dict(AdverseEvent._meta.get_field("outcome").flatchoices)
    severity_label = dict(AdverseEvent._meta.get_field("severity").flatchoices)
    saes: dict[int, list] = {}
    ae_rows = sorted((r for r in as_of(AdverseEvent, cut_off, subject_id__in=ids).values() if r["serious"]),
                     key=lambda r: (r["onset_on"], r["pgh_obj_id"]))
    for ae in ae_rows:
        saes.setdefault(ae["subject_id"], []).append({
            "term": ae["term"], "onset_on": ae["onset_on"].isoformat(),
            "outcome": str(outcome_label.get(ae["outcome"], ae["outcome"])),
            "severity": str(severity_label.get(ae["severity"], ae["severity"])), "death": ae["sae_death"]})
    rows = []
    for s in subjects:
        arm, screening_id = alloc.get(s.pk, ("", None))
        b = baseline.get(screening_id, {})
        d90 = day90.get(s.pk, {})
        state = status[s.pk]
        dead = state == "dead" or s.pk in dead_forms or d90.get("mrs") == 6
        mrs_site = 6 if dead else d90.get("mrs")
        mrs_adj = adjudicated.get((s.pk, CaseKind.MRS), {}).get("mrs")
        sich_adj = adjudicated.get((s.pk, CaseKind.SICH), {})
        sich_site = v48.get(s.pk, {})
        rows.append({
            "subject": s.number, "site": s.site.code, "randomized_at": s.randomized_at.isoformat(),
            "arm": arm, "status": state,
            "age": b.get("age_years"), "sex": b.get("sex"), "prestroke_mrs": b.get("prestroke_mrs"),
            "nihss": b.get("nihss_baseline"), "circulation": b.get("circulation"),
            "aspects": b.get("aspects"), "pc_aspects": b.get("pc_aspects"),
            "mrs_site": mrs_site, "mrs_adjudicated": mrs_adj,
            "mrs_analysis": 6 if dead else (mrs_adj if mrs_adj is not None else mrs_site),
            "death": dead,
            **{f"{k}_site": sich_site.get(k) for k, _label in SICH},
            **{f"{k}_adjudicated": sich_adj.get(k) for k, _label in SICH},
            "saes": saes.get(s.pk, []),
        })
    return rows


# --- pure report functions ----------------------------------------------------------------------


def _pct(n, d):
    return round(100 * n / d, 1) if d else 0.0


def _median_iqr(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    if len(values) == 1:
        return {"median": values[0], "q1": values[0], "q3": values[0], "n": 1}
    q = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2], "n": len(values)}


def _grotta(rows, key):
    known = [r[key] for r in rows if r.get(key) is not None]
    counts = Counter(known)
    return {"n": len(known), "levels": [{"mrs": m, "n": counts.get(m, 0), "percent": _pct(counts.get(m, 0), len(known))}
                                         for m in MRS_LEVELS]}


def group_summary(label: str, rows: list[dict]) -> dict:
    n = len(rows)
    ages = [r["age"] for r in rows if r.get("age") is not None]
    female = sum(1 for r in rows if r.get("sex") == "female")
    anterior = sum(1 for r in rows if r.get("circulation") == "anterior")
    out = {
        "label": label, "n": n,
        "baseline": {
            "age_mean": round(statistics.mean(ages), 1) if ages else None,
            "age_sd": round(statistics.stdev(ages), 1) if len(ages) > 1 else None,
            "female": female, "female_percent": _pct(female, n),
            "nihss": _median_iqr([r.get("nihss") for r in rows]),
            "prestroke_mrs": _median_iqr([r.get("prestroke_mrs") for r in rows]),
            "anterior": anterior, "anterior_percent": _pct(anterior, n),
            "aspects": _median_iqr([r.get("aspects") for r in rows]),
            "pc_aspects": _median_iqr([r.get("pc_aspects") for r in rows]),
        },
        "mrs_site": _grotta(rows, "mrs_site"),
        "mrs_adjudicated": _grotta(rows, "mrs_adjudicated"),
        "mrs_analysis": _grotta(rows, "mrs_analysis"),
        "deaths": sum(1 for r in rows if r.get("death")),
    }
    out["death_percent"] = _pct(out["deaths"], n)
    for key in ("mrs_site", "mrs_analysis"):
        known = [r[key] for r in rows if r.get(key) is not None]
        good = sum(1 for v in known if v <= 2)
        out[f"{key}_0_2"] = {"n": good, "of": len(known), "percent": _pct(good, len(known))}
    out["sich"] = []
    for k, lab in SICH:
        site_n = sum(1 for r in rows if r.get(f"{k}_site"))
        adj_n = sum(1 for r in rows if r.get(f"{k}_adjudicated"))
        adj_of = sum(1 for r in rows if r.get(f"{k}_adjudicated") is not None)
        out["sich"].append({"key": k, "label": lab, "site": site_n, "site_percent": _pct(site_n, n),
                            "adjudicated": adj_n, "adjudicated_of": adj_of})
    return out


def _enrollment(rows):
    by_site = Counter(r["site"] for r in rows)
    return [{"site": code, "n": by_site[code]} for code in sorted(by_site)]


MRS_COLOURS = ["#1a9850", "#66bd63", "#a6d96a", "#fee08b", "#fdae61", "#f46d43", "#999999"]


def _decorate(report: dict) -> dict:
    """Display helpers for the page (bars with their colours, sICH rows by group)."""
    for g in report["groups"]:
        for dist in (g["mrs_site"], g["mrs_adjudicated"]):
            for level in dist["levels"]:
                level["colour"] = MRS_COLOURS[level["mrs"]]
        g["bars"] = [(f"{g['label']} · {_('site')}", g["mrs_site"]),
                     (f"{g['label']} · {_('adjudicated')}", g["mrs_adjudicated"])]
    rows = []
    for i, (_key, label) in enumerate(SICH):
        rows.append({"label": f"{label}, {_('site')}",
                     "cells": [f"{g['sich'][i]['site']} ({g['sich'][i]['site_percent']}%)" for g in report["groups"]]})
        rows.append({"label": f"{label}, {_('adjudicated')}",
                     "cells": [f"{g['sich'][i]['adjudicated']}/{g['sich'][i]['adjudicated_of']}" for g in report["groups"]]})
    report["sich_rows"] = rows
    return report


def _header(snap, closed: bool) -> dict:
    return {"cut_off": snap.cut_off, "taken_at": snap.taken_at, "sha256": snap.sha256, "closed": closed,
            "snapshot": snap.pk,
            "title": _("DSMB closed report (by arm)") if closed else _("DSMB open report (pooled)")}


def closed_report(snap) -> dict:
    """By arm — for the unblinded statistician and the DSMB's closed session only."""
    from randomization.models import Arm

    rows = snap.rows
    groups = [group_summary(str(label), [r for r in rows if r["arm"] == code]) for code, label in Arm.choices]
    saes = [{"subject": r["subject"], "site": r["site"], "group": str(dict(Arm.choices).get(r["arm"], "")), **e}
            for r in rows for e in r["saes"]]
    return _decorate({**_header(snap, True), "groups": groups, "total": len(rows),
                      "enrollment": _enrollment(rows), "saes": saes})


def open_report(snap) -> dict:
    """Pooled — for the steering committee (blinded): the same tables, one column, and no
    key of a row that could carry the arm is read."""
    pooled = [{k: v for k, v in r.items() if k != "arm"} for r in snap.rows]
    saes = [{"subject": r["subject"], "site": r["site"], "group": "", **e} for r in pooled for e in r["saes"]]
    return _decorate({**_header(snap, False), "groups": [group_summary(_("All subjects"), pooled)],
                      "total": len(pooled), "enrollment": _enrollment(pooled), "saes": saes})
