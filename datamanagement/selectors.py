"""Reads of data management, each taking the user: site scope through core.access and
blinding through the CRF registry (forms that reveal the arm are invisible to blinded users).

Public for other apps:
- query_counts_for(*, user, instances) — open/answered query counts per CRF instance and field,
  for casebooks and form pages (one database query, whatever the number of instances).
- sdv_status_for(*, user, instance) — verified fields of one form.
- signatures_for(*, user, subject) — the subject's signatures, valid and broken.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from core import access
from core import crf as registry
from core.roles import PERMISSIONS, Action
from datamanagement.crfs import crf_of, data_fields, site_id_of
from datamanagement.models import (
    Lock,
    Query,
    QueryStatus,
    Signature,
    SourceVerification,
)
from datamanagement.permissions import can_answer, can_raise, sees_form

AGE_BUCKETS = {"le7": (None, 7), "8to30": (8, 30), "gt30": (31, None)}


def _visible_codes(user) -> list[str]:
    return [c.code for c in registry.all_crfs() if sees_form(user, c)]


def visible_queries(user) -> QuerySet[Query]:
    """Queries this user may see: reviewers (RAISE_QUERY) at their sites; site staff
    (ANSWER_QUERY) at their sites, on the forms their roles enter — so a blinded assessor
    sees only the day-90 form's queries; nobody blinded sees a form that reveals the arm."""
    cond = Q(pk__in=[])
    codes = _visible_codes(user)
    raise_sites = access.sites_for(user, Action.RAISE_QUERY)
    if raise_sites is None:
        if access.can(user, Action.RAISE_QUERY):
            cond |= Q(crf_code__in=codes)
    elif raise_sites:
        cond |= Q(site_id__in=raise_sites, crf_code__in=codes)
    for m in access.user_memberships(user):
        if Action.ANSWER_QUERY not in PERMISSIONS.get(m.role, ()):
            continue
        forms = [c.code for c in registry.all_crfs() if m.role in c.entered_by and c.code in codes]
        site_q = Q() if m.site_id is None else Q(site_id=m.site_id)
        cond |= site_q & Q(crf_code__in=forms)
    return Query.objects.filter(cond)


def query_list(*, user, site: str | None = None, status: str | None = None, age: str | None = None,
               form: str | None = None, subject: str | None = None, now: dt.datetime | None = None) -> QuerySet[Query]:
    """The monitor's queue and the site's to-do list (same rows, scoped by the user).

    A constant number of database queries whatever the number of rows: site, subject and
    opener are joined, the thread length is annotated.
    """
    now = now or timezone.now()
    qs = visible_queries(user)
    if site:
        qs = qs.filter(site__code=site)
    if status == "unresolved":
        qs = qs.exclude(status=QueryStatus.CLOSED)
    elif status in QueryStatus.values:
        qs = qs.filter(status=status)
    if form:
        qs = qs.filter(crf_code=form)
    if subject:
        qs = qs.filter(object_label=subject)
    if age in AGE_BUCKETS:
        low, high = AGE_BUCKETS[age]
        if low is not None:
            qs = qs.filter(opened_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            qs = qs.filter(opened_at__gt=now - dt.timedelta(days=high + 1))
    return (qs.select_related("site", "subject", "opened_by", "closed_by")
              .annotate(message_count=Count("messages"))
              .order_by("opened_at", "id"))


def todo_for(user) -> QuerySet[Query]:
    """Site staff's to-do: open queries they can answer."""
    return query_list(user=user, status=QueryStatus.OPEN)


def query_detail(*, user, pk: int) -> Query:
    query = (visible_queries(user).select_related("site", "subject", "opened_by", "closed_by")
             .filter(pk=pk).first())
    if query is None:
        raise Http404
    return query


def query_thread(query: Query):
    return query.messages.select_related("author").order_by("at", "id")


def query_permissions(user, query: Query) -> dict[str, bool]:
    crf = registry.get(query.crf_code)
    raise_ok = can_raise(user, crf, query.site_id)
    answer_ok = can_answer(user, crf, query.site_id)
    from datamanagement.permissions import can_enter

    return {
        "answer": answer_ok and query.status == QueryStatus.OPEN,
        "correct": can_enter(user, crf, query.site_id) and query.status != QueryStatus.CLOSED,
        "close": raise_ok and query.status != QueryStatus.CLOSED,
        "reopen": raise_ok and query.status != QueryStatus.OPEN,
        "comment": raise_ok or answer_ok,
    }


@dataclass
class InstanceCounts:
    open: int = 0
    answered: int = 0
    closed: int = 0
    by_field: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: {"open": 0, "answered": 0, "closed": 0}))

    @property
    def unresolved(self) -> int:
        return self.open + self.answered


def query_counts_for(*, user, instances: Iterable) -> dict[tuple[str, int], InstanceCounts]:
    """Query counts per CRF instance, keyed by (form code, pk), with per-field counts in
    `.by_field[field]["open"|"answered"|"closed"]`. One database query. Instances of forms the
    user may not see are left out."""
    keys: dict[str, set[int]] = defaultdict(set)
    for inst in instances:
        crf = crf_of(inst)
        if sees_form(user, crf):
            keys[crf.code].add(inst.pk)
    out: dict[tuple[str, int], InstanceCounts] = {}
    if not keys:
        return out
    cond = Q(pk__in=[])
    for code, pks in keys.items():
        cond |= Q(crf_code=code, object_id__in=pks)
    rows = (visible_queries(user).filter(cond).values("crf_code", "object_id", "field_name", "status")
            .annotate(n=Count("id")).order_by())
    for code, pks in keys.items():
        for pk in pks:
            out[(code, pk)] = InstanceCounts()
    for row in rows:
        counts = out[(row["crf_code"], row["object_id"])]
        setattr(counts, row["status"], getattr(counts, row["status"]) + row["n"])
        counts.by_field[row["field_name"]][row["status"]] += row["n"]
    return out


def sdv_status_for(*, user, instance) -> dict[str, SourceVerification]:
    """Active SDV marks of one form, by field."""
    crf = crf_of(instance)
    if not sees_form(user, crf):
        return {}
    rows = SourceVerification.objects.filter(crf_code=crf.code, object_id=instance.pk, active=True)
    return {r.field_name: r for r in rows.select_related("verified_by")}


def sdv_cleared_for(*, user, instance) -> dict[str, SourceVerification]:
    """The latest cleared SDV mark of fields that are not verified now (to show why)."""
    crf = crf_of(instance)
    if not sees_form(user, crf):
        return {}
    out: dict[str, SourceVerification] = {}
    for r in SourceVerification.objects.filter(crf_code=crf.code, object_id=instance.pk,
                                               active=False).order_by("field_name", "-cleared_at"):
        out.setdefault(r.field_name, r)
    return out


@dataclass
class Progress:
    label: str
    verified: int = 0
    total: int = 0
    key: object = None

    @property
    def percent(self) -> int:
        return round(100 * self.verified / self.total) if self.total else 0


def sdv_progress(*, user, site_code: str | None = None) -> tuple[list[Progress], list[Progress]]:
    """SDV progress per site and per subject: verified fields / data fields of entered forms.

    One grouped query per registered form plus one for the marks, whatever the number of
    subjects. Forms the user may not see are not counted.
    """
    from core.models import Site, Subject

    sites = access.scope(Site.objects.all(), user, Action.SDV, site_field="pk")
    if not access.can(user, Action.SDV):
        sites = access.scope(Site.objects.all(), user, Action.VIEW_CRF, site_field="pk")
    if site_code:
        sites = sites.filter(code=site_code)
    site_rows = {s.pk: Progress(label=f"{s.code} {s.name}", key=s) for s in sites}
    subject_rows: dict[int, Progress] = {}
    codes = []
    for crf in registry.all_crfs():
        if not sees_form(user, crf):
            continue
        codes.append(crf.code)
        n_fields = len(data_fields(crf))
        if crf.subject_field:
            site_path, subj_path = f"{crf.subject_field}__site_id", crf.subject_field
            counts = (crf.model.objects.filter(**{f"{site_path}__in": list(site_rows)})
                      .values(site_path, subj_path).annotate(n=Count("pk")).order_by())
            for row in counts:
                site_rows[row[site_path]].total += row["n"] * n_fields
                subject_rows.setdefault(row[subj_path], Progress(label="")).total += row["n"] * n_fields
        else:
            counts = (crf.model.objects.filter(site_id__in=list(site_rows)).values("site_id")
                      .annotate(n=Count("pk")).order_by())
            for row in counts:
                site_rows[row["site_id"]].total += row["n"] * n_fields
    marks = (SourceVerification.objects.filter(active=True, crf_code__in=codes, site_id__in=list(site_rows))
             .values("site_id", "subject_id").annotate(n=Count("id")).order_by())
    for row in marks:
        site_rows[row["site_id"]].verified += row["n"]
        if row["subject_id"] is not None:
            subject_rows.setdefault(row["subject_id"], Progress(label="")).verified += row["n"]
    for s in Subject.objects.filter(pk__in=list(subject_rows)).select_related("site"):
        subject_rows[s.pk].label = s.number
        subject_rows[s.pk].key = s
    return list(site_rows.values()), sorted(subject_rows.values(), key=lambda p: p.label)


def signatures_for(*, user, subject) -> list[Signature]:
    access.object_site_or_404(user, Action.VIEW_CRF, subject.site_id) if not access.can(
        user, Action.SIGN, subject.site_id) else None
    return list(Signature.objects.filter(subject=subject).select_related("signer"))


def active_locks(*, user) -> QuerySet[Lock]:
    if not (access.can(user, Action.LOCK) or access.can(user, Action.VIEW_CRF)):
        return Lock.objects.none()
    qs = Lock.objects.filter(active=True).select_related("subject", "site", "locked_by")
    if not access.can(user, Action.LOCK):
        allowed = access.sites_for(user, Action.VIEW_CRF)
        if allowed is not None:
            qs = qs.filter(Q(site_id__in=allowed) | Q(level="database"))
    return qs


def crf_instance_for(*, user, code: str, pk: int):
    """One CRF instance the user may read (404 otherwise, so nothing leaks across sites)."""
    from django.core.exceptions import ObjectDoesNotExist

    from datamanagement.crfs import get_instance
    from datamanagement.permissions import can_view_crf

    try:
        crf, instance = get_instance(code, pk)
    except (KeyError, LookupError, ObjectDoesNotExist) as exc:
        raise Http404 from exc
    if not can_view_crf(user, crf, site_id_of(instance)):
        raise Http404
    return crf, instance


@dataclass
class Panel:
    """What the casebook and form pages of other apps show from data management."""

    subject: object
    counts: dict = field(default_factory=dict)  # visit/form key → InstanceCounts
    signatures: dict = field(default_factory=dict)  # "casebook" | visit code → latest Signature
    lock: Lock | None = None
    field_counts: dict = field(default_factory=dict)  # field name → {"open", "answered", "closed"}
    unresolved: int = 0


def casebook_panel(*, user, subject, records: dict) -> Panel:
    """For a casebook page: query counts per record (keyed as the caller keys `records`, e.g.
    by visit code), the latest signature per visit and of the casebook, and the active lock.
    Three database queries whatever the number of forms."""
    present = {k: r for k, r in records.items() if r is not None}
    counts = query_counts_for(user=user, instances=present.values())
    panel = Panel(subject=subject)
    for key, record in present.items():
        c = counts.get((crf_of(record).code, record.pk))
        if c is not None:
            panel.counts[key] = c
            panel.unresolved += c.unresolved
    for s in Signature.objects.filter(subject=subject).select_related("signer").order_by("-signed_at", "-id"):
        panel.signatures.setdefault(s.visit or "casebook", s)
    panel.lock = (Lock.objects.filter(active=True).filter(Q(level="database") | Q(level="subject", subject=subject))
                  .order_by("level").first())
    return panel


def form_panel(*, user, instance) -> Panel | None:
    """For a form page: per-field query counts and the lock covering the form."""
    if instance is None:
        return None
    from datamanagement.crfs import subject_of
    from datamanagement.locks import active_lock_for

    counts = query_counts_for(user=user, instances=[instance]).get((crf_of(instance).code, instance.pk))
    panel = Panel(subject=subject_of(instance), lock=active_lock_for(instance))
    if counts is not None:
        panel.field_counts = {k: dict(v) for k, v in counts.by_field.items() if v["open"] + v["answered"]}
        panel.unresolved = counts.unresolved
    return panel
