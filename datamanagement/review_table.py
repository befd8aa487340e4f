""""Forms to review" for monitors and data managers: one row per CRF instance with site, form,
visit, entered, SDV state, open queries, signed and locked; filterable and paginated, in a
constant number of queries however many forms exist (one per form type, then one each for
SDV marks, queries, signatures and locks)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from core import access
from core import crf as registry
from core.roles import Action
from datamanagement.crfs import data_fields
from datamanagement.models import Lock, Query, Signature, SourceVerification
from datamanagement.permissions import sees_form


@dataclass
class ReviewRow:
    crf: registry.CRF
    pk: int
    label: str
    site_code: str
    subject_id: int | None
    entered: datetime | None
    fields: int
    verified: int = 0
    open_queries: int = 0
    signed: bool = False
    locked: bool = False

    @property
    def sdv_state(self) -> str:
        if self.verified == 0:
            return "none"
        return "complete" if self.verified >= self.fields else "partial"


SDV_STATES = ("none", "partial", "complete")


def review_rows(*, user, site: str = "", form: str = "", visit: str = "", sdv: str = "",
                queries: str = "", signed: str = "", locked: str = "") -> list[ReviewRow]:
    if not access.can(user, Action.VIEW_CRF):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    rows: list[ReviewRow] = []
    for crf in registry.all_crfs():
        if not sees_form(user, crf) or (form and crf.code != form) or (visit and crf.visit != visit):
            continue
        n_fields = len(data_fields(crf))
        qs = crf.model.objects.all()
        if crf.subject_field:
            sf = crf.subject_field
            qs = access.scope(qs, user, Action.VIEW_CRF, site_field=f"{sf}__site")
            if site:
                qs = qs.filter(**{f"{sf}__site__code": site})
            values = qs.values_list("pk", f"{sf}__number", f"{sf}__site__code", f"{sf}__id",
                                    "created_at" if _has(crf.model, "created_at") else "pk")
        else:
            qs = access.scope(qs, user, Action.VIEW_CRF)
            if site:
                qs = qs.filter(site__code=site)
            values = qs.values_list("pk", "number", "site__code", "pk", "created_at")
        for pk, label, site_code, subject_id, entered in values:
            rows.append(ReviewRow(crf=crf, pk=pk, label=str(label), site_code=site_code,
                                  subject_id=subject_id if crf.subject_field else None,
                                  entered=entered if isinstance(entered, datetime) else None, fields=n_fields))
    _annotate(user, rows)
    if sdv in SDV_STATES:
        rows = [r for r in rows if r.sdv_state == sdv]
    if queries == "open":
        rows = [r for r in rows if r.open_queries]
    if signed in ("yes", "no"):
        rows = [r for r in rows if r.signed == (signed == "yes")]
    if locked in ("yes", "no"):
        rows = [r for r in rows if r.locked == (locked == "yes")]
    rows.sort(key=lambda r: (r.entered is None, -(r.entered.timestamp() if r.entered else 0), r.crf.order, -r.pk))
    return rows


def _has(model, name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


def _annotate(user, rows: list[ReviewRow]) -> None:
    if not rows:
        return
    codes = {r.crf.code for r in rows}
    verified = defaultdict(int)
    for code, object_id, n in (SourceVerification.objects.filter(crf_code__in=codes, active=True)
                               .values_list("crf_code", "object_id").annotate(n=Count("id")).order_by()):
        verified[(code, object_id)] = n
    open_q = defaultdict(int)
    for code, object_id, n in (Query.objects.filter(crf_code__in=codes, status="open")
                               .values_list("crf_code", "object_id").annotate(n=Count("id")).order_by()):
        open_q[(code, object_id)] = n
    subject_ids = {r.subject_id for r in rows if r.subject_id}
    signed_casebook, signed_visit = set(), set()
    for subject_id, scope, visit in (Signature.objects.filter(subject_id__in=subject_ids, broken_at=None)
                                     .values_list("subject_id", "scope", "visit")):
        if scope == "casebook":
            signed_casebook.add(subject_id)
        else:
            signed_visit.add((subject_id, visit))
    locks = list(Lock.objects.filter(active=True).filter(
        Q(level="database") | Q(level="subject", subject_id__in=subject_ids) | Q(level="form", crf_code__in=codes))
        .values_list("level", "subject_id", "crf_code", "object_id"))
    database_locked = any(level == "database" for level, *_ in locks)
    locked_subjects = {s for level, s, _c, _o in locks if level == "subject"}
    locked_forms = {(c, o) for level, _s, c, o in locks if level == "form"}
    for r in rows:
        key = (r.crf.code, r.pk)
        r.verified = verified[key]
        r.open_queries = open_q[key]
        r.signed = bool(r.subject_id) and (r.subject_id in signed_casebook or (r.subject_id, r.crf.visit) in signed_visit)
        r.locked = database_locked or key in locked_forms or (r.subject_id in locked_subjects)
