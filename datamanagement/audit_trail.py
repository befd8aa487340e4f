"""The audit trail viewer's read side (SPEC §8; 21 CFR 11.10(e); ICH E6(R3) 4.2.2 / 3.16.1):
who changed what, when, from which value to which, and why — per field, form, subject and
user — from the pghistory events of the tracked models plus the action events
(audit.AuditEvent: sign-in, randomize, sign, lock, export...).

Blinding: a blinded user (core.access.sees_arm false) never sees an entry that could reveal the
allocation — events of the randomization app, of forms that reveal the arm (the procedure
CRF) and of queries/SDV/locks on them, arm fields of any form, and action events flagged
`reveals_allocation`. This is enforced here, in the one selector every page and the CSV export
use, not in templates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pghistory.models
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.translation import gettext, gettext_noop

from audit.models import AuditEvent
from core import access, blinding
from core import crf as registry
from core.roles import Action

DM_MODELS = ("datamanagement.Query", "datamanagement.QueryMessage", "datamanagement.SourceVerification",
             "datamanagement.Signature", "datamanagement.Lock")
ALLOCATION_APPS = ("randomization",)


# Names Django derives from model classes (no Meta.verbose_name): listed for the catalogue,
# shown translated in the audit trail's form column.
MODEL_NAMES = (
    gettext_noop("user"),
    gettext_noop("membership"),
    gettext_noop("site counter"),
    gettext_noop("notification"),
    gettext_noop("screening pass"),
    gettext_noop("trial config"),
    gettext_noop("allocation list"),
    gettext_noop("allocation entry"),
    gettext_noop("allocation"),
    gettext_noop("blinding breach"),
    gettext_noop("procedure pass"),
    gettext_noop("reminder"),
    gettext_noop("query"),
    gettext_noop("query message"),
    gettext_noop("source verification"),
    gettext_noop("signature"),
    gettext_noop("lock"),
    gettext_noop("export"),
    gettext_noop("subject"),
    gettext_noop("site"),
    gettext_noop("screening"),
)


@dataclass
class Entry:
    at: dt.datetime
    kind: str  # "change" | "created" | "action"
    username: str
    model: str  # model label or audit action
    form: str  # CRF label or model verbose name
    object_id: str
    object_label: str
    field: str
    field_label: str
    old: Any
    new: Any
    reason: str
    summary: str = ""
    ip: str = ""


def _event_model_for(model):
    for event_model in pghistory.core.event_models():
        if event_model.pgh_tracked_model._meta.concrete_model is model._meta.concrete_model:
            return event_model
    return None


def _crf_by_model_label() -> dict[str, registry.CRF]:
    return {c.model._meta.label: c for c in registry.all_crfs()}


def _allowed_event_models(user, *, form: str | None):
    blinded = not access.sees_arm(user)
    crfs = _crf_by_model_label()
    global_user = access.sites_for(user, Action.AUDIT_TRAIL) is None
    out = []
    for event_model in pghistory.core.event_models():
        tracked = event_model.pgh_tracked_model
        label = tracked._meta.label
        crf = crfs.get(label)
        if form and (crf is None or crf.code != form):
            continue
        if blinded and blinding.reveals_arm(model=tracked, crf=crf):
            continue
        if not global_user and crf is None and label not in DM_MODELS:
            continue  # site-scoped reviewers see clinical data and its data-management records
        out.append(event_model)
    return out


def audit_entries(*, user, form: str | None = None, field: str | None = None, subject: str | None = None,
                  username: str | None = None, since: dt.date | None = None, until: dt.date | None = None,
                  object_id: str | None = None, include_actions: bool = True, limit: int | None = 500) -> list[Entry]:
    """Audit entries visible to `user`, newest first, one row per changed field."""
    if not access.can(user, Action.AUDIT_TRAIL):
        raise PermissionDenied("The audit trail viewer is for monitors, data managers and administrators.")
    from core.models import Subject, User

    blinded = not access.sees_arm(user)
    crfs = _crf_by_model_label()
    arm_codes = [c.code for c in registry.all_crfs() if c.reveals_arm]
    site_ids = access.sites_for(user, Action.AUDIT_TRAIL)  # None = all sites

    event_models = _allowed_event_models(user, form=form)
    subject_obj = Subject.objects.filter(number=subject).first() if subject else None
    if subject and subject_obj is None:
        return []
    qs = pghistory.models.Events.objects.across(*event_models) if event_models else None
    entries: list[Entry] = []
    if qs is not None:
        if subject_obj is not None:
            cond = (Q(pgh_data__subject_id=subject_obj.pk) |
                    Q(pgh_obj_model="core.Subject", pgh_obj_id=str(subject_obj.pk)))
            # Forms not keyed by subject (the screening CRF) and rows keyed through another form
            # (the procedure's passes): their instances of this subject, by id.
            from datamanagement.crfs import instances_of_subject

            for crf, rows in instances_of_subject(subject_obj):
                if rows and (not crf.subject_field or "__" in crf.subject_field):
                    cond |= Q(pgh_obj_model=crf.model._meta.label, pgh_obj_id__in=[str(r.pk) for r in rows])
            qs = qs.filter(cond)
        if object_id:
            qs = qs.filter(pgh_obj_id=str(object_id))
        if username:
            u = User.objects.filter(username=username).first()
            qs = qs.filter(Q(pgh_context__username=username) | Q(pgh_context__user=u.pk if u else -1))
        if field:
            qs = qs.filter(Q(pgh_diff__has_key=field) | Q(pgh_label="insert") | Q(pgh_data__field_name=field))
        if since:
            qs = qs.filter(pgh_created_at__date__gte=since)
        if until:
            qs = qs.filter(pgh_created_at__date__lte=until)
        if site_ids is not None:
            subject_ids = list(Subject.objects.filter(site_id__in=site_ids).values_list("pk", flat=True))
            qs = qs.filter(Q(pgh_data__site_id__in=list(site_ids)) | Q(pgh_data__subject_id__in=subject_ids))
        if blinded and arm_codes:
            from datamanagement.models import Query

            arm_queries = list(Query.objects.filter(crf_code__in=arm_codes).values_list("pk", flat=True))
            # (a missing key is NULL in SQL: "NOT IN" alone would drop every other model's rows)
            qs = qs.filter(Q(pgh_data__crf_code__isnull=True) | ~Q(pgh_data__crf_code__in=arm_codes))
            if arm_queries:
                qs = qs.filter(Q(pgh_data__query_id__isnull=True) | ~Q(pgh_data__query_id__in=arm_queries))
        qs = qs.order_by("-pgh_created_at", "-pgh_id")
        if limit:
            qs = qs[:limit]
        events = list(qs)
        user_ids = {(ev.pgh_context or {}).get("user") for ev in events} - {None}
        usernames = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))
        subject_ids = {(ev.pgh_data or {}).get("subject_id") for ev in events} - {None}
        numbers = dict(Subject.objects.filter(pk__in=subject_ids).values_list("pk", "number"))
        for ev in events:
            entries.extend(_event_entries(ev, crfs=crfs, blinded=blinded, field=field, usernames=usernames,
                                          numbers=numbers))

    if include_actions and not form and not field:
        entries.extend(_action_entries(user, subject_obj=subject_obj, username=username, since=since,
                                       until=until, site_ids=site_ids, blinded=blinded, limit=limit))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit] if limit else entries


def _object_label(data: dict, model_label: str) -> str:
    for key in ("object_label", "number"):
        if data.get(key):
            return str(data[key])
    return f"#{data.get('id', '')}"


def _event_entries(ev, *, crfs, blinded, field, usernames, numbers) -> list[Entry]:
    crf = crfs.get(ev.pgh_obj_model)
    model = apps.get_model(ev.pgh_obj_model)
    form_label = crf.label if crf else gettext(str(model._meta.verbose_name))
    ctx = ev.pgh_context or {}
    username = ctx.get("username") or usernames.get(ctx.get("user"), "") or ("system" if not ctx else "")
    data = ev.pgh_data or {}
    arm_fields = set(crf.arm_fields) if (crf and blinded) else set()
    common = dict(at=ev.pgh_created_at, username=username, model=ev.pgh_obj_model, form=form_label,
                  object_id=ev.pgh_obj_id or "", object_label=numbers.get(data.get("subject_id"), "") or _object_label(data, ev.pgh_obj_model),
                  reason=ctx.get("reason", ""), ip=ctx.get("ip") or "")
    if ev.pgh_label == "insert" or not ev.pgh_diff:
        if ev.pgh_label != "insert":
            return []
        return [Entry(kind="created", field="", field_label="", old=None, new=None,
                      summary="created (first save)", **common)]
    out = []
    for name, (old, new) in sorted(ev.pgh_diff.items()):
        if name in arm_fields or (field and name != field):
            continue
        if name in ("version", "updated_at"):
            continue
        label = _field_label(model, name)
        if blinded and name == "broken_reason":
            # older signature reasons named the procedure form and its values (core.blinding)
            old, new = (str(blinding.WITHHELD) if isinstance(v, str) and blinding.signature_reason_reveals_arm(v)
                        else v for v in (old, new))
        out.append(Entry(kind="change", field=name, field_label=label, old=old, new=new, **common))
    return out


def _field_label(model, name: str) -> str:
    for f in model._meta.concrete_fields:
        if f.attname == name or f.name == name:
            return str(f.verbose_name)
    return name


def _action_entries(user, *, subject_obj, username, since, until, site_ids, blinded, limit) -> list[Entry]:
    qs = AuditEvent.objects.select_related("site")
    if blinded:
        qs = qs.filter(reveals_allocation=False)
    if site_ids is not None:
        qs = qs.filter(site_id__in=site_ids)
    if username:
        qs = qs.filter(actor_username=username)
    if subject_obj is not None:
        qs = qs.filter(Q(summary__contains=subject_obj.number) | Q(object_type="core.Subject", object_id=str(subject_obj.pk)))
    if since:
        qs = qs.filter(at__date__gte=since)
    if until:
        qs = qs.filter(at__date__lte=until)
    qs = qs.order_by("-at", "-id")
    if limit:
        qs = qs[:limit]
    return [Entry(at=e.at, kind="action", username=e.actor_username, model=e.action,
                  form=e.get_action_display(), object_id=e.object_id, object_label=e.object_type,
                  field="", field_label="", old=None, new=None, reason=e.reason, summary=e.summary,
                  ip=e.ip or "") for e in qs]
