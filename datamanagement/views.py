"""Thin views over datamanagement.services and selectors. Domain errors are shown in plain
words beside the form (never a 500); permission errors are 403; other sites' objects are 404."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.chain import chain_head
from audit.middleware import client_ip
from core import access
from core import crf as registry
from core.csvsafe import neutralise_row
from core.exceptions import DomainError
from core.http import int_field
from core.models import Site, Subject
from core.roles import Action
from datamanagement import audit_trail, selectors, services
from datamanagement.crfs import (
    crf_of,
    data_fields,
    display,
    display_label,
    field_label,
    instances_of_subject,
    label_of,
    site_id_of,
    site_of,
    subject_of,
    values_of,
)
from datamanagement.forms import AuditFilterForm, QueryFilterForm, QueryOpenForm, SignForm
from datamanagement.locks import active_lock_for
from datamanagement.models import Lock, LockLevel, QueryStatus, SignatureScope
from datamanagement.permissions import (
    can_answer,
    can_enter,
    can_raise,
    can_sdv,
    can_view_crf,
    sees_form,
)


def _form_choices(user):
    return [(c.code, c.label) for c in registry.all_crfs() if sees_form(user, c)]


@login_required
def queries(request):
    """Monitor's queue (filters: site, status, age, form) and the site's to-do list."""
    user = request.user
    if not (access.can(user, Action.RAISE_QUERY) or access.can(user, Action.ANSWER_QUERY)):
        raise PermissionDenied
    reviewer = access.can(user, Action.RAISE_QUERY)
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = "unresolved" if reviewer else QueryStatus.OPEN
    site_choices = [(s.code, f"{s.code} {s.name}") for s in access.visible_sites(user)]
    filters = QueryFilterForm(data, form_choices=_form_choices(user), site_choices=site_choices)
    filters.is_valid()
    f = getattr(filters, "cleaned_data", {})
    qs = selectors.query_list(user=user, site=f.get("site"), status=f.get("status"), age=f.get("age"),
                              form=f.get("form"), subject=f.get("subject"))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = []
    for q in page.object_list:
        crf = registry.get(q.crf_code)
        end = q.closed_at or now
        rows.append({"q": q, "form": crf.label, "field": field_label(crf, q.field_name),
                     "age_days": (end - q.opened_at).days})
    return render(request, "datamanagement/queries.html", {
        "filters": filters, "page": page, "rows": rows, "reviewer": reviewer,
        "query_string": _without_page(request),
    })


def _without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
def query_detail(request, pk: int):
    user = request.user
    query = selectors.query_detail(user=user, pk=pk)
    crf = registry.get(query.crf_code)
    perms = selectors.query_permissions(user, query)
    error = None
    if request.method == "POST":
        action = request.POST.get("action")
        text = request.POST.get("text", "")
        try:
            if action == "answer":
                services.query_answer(user=user, query=query, text=text)
            elif action == "close":
                services.query_close(user=user, query=query, text=text)
            elif action == "reopen":
                services.query_reopen(user=user, query=query, text=text)
            elif action == "comment":
                services.query_comment(user=user, query=query, text=text)
            elif action == "correct":
                instance = crf.model.objects.get(pk=query.object_id)
                services.crf_field_correct(user=user, instance=instance, field_name=query.field_name,
                                           value=request.POST.get("value", ""),
                                           reason=request.POST.get("reason", ""), query=query)
            else:
                raise Http404
            messages.success(request, _("Saved."))
            return redirect("datamanagement:query", pk=query.pk)
        except DomainError as exc:
            error = str(exc)
        query = selectors.query_detail(user=user, pk=pk)
        perms = selectors.query_permissions(user, query)
    instance = crf.model.objects.filter(pk=query.object_id).first()
    value = (display_label(getattr(instance, crf.model._meta.get_field(query.field_name).attname),
                           crf.model._meta.get_field(query.field_name), query.site.tz)
             if instance else "—")
    now = timezone.now()
    return render(request, "datamanagement/query_detail.html", {
        "query": query, "crf": crf, "field_label": field_label(crf, query.field_name),
        "thread": selectors.query_thread(query), "perms": perms, "error": error, "value": value,
        "age_days": ((query.closed_at or now) - query.opened_at).days, "posted": request.POST,
        "field_input": _field_input(crf, query.field_name),
    })


def _field_input(crf, name):
    f = crf.model._meta.get_field(name)
    kind = f.get_internal_type()
    choices = [(str(k), str(v)) for k, v in f.choices] if f.choices else None
    input_type = {"DateTimeField": "datetime-local", "DateField": "date", "IntegerField": "number",
                  "PositiveSmallIntegerField": "number", "PositiveIntegerField": "number",
                  "SmallIntegerField": "number", "DecimalField": "number"}.get(kind, "text")
    if kind == "BooleanField":
        choices = [("", "—"), ("True", _("yes")), ("False", _("no"))]
    return {"type": input_type, "choices": choices, "help": str(f.help_text or ""),
            "step": "any" if kind == "DecimalField" else "1"}


@login_required
def forms_list(request):
    """Forms to review (entry point for monitors): a filterable, paginated table with site,
    form, visit, entered, SDV state, open queries, signed and locked (constant query count)."""
    from django.core.paginator import Paginator

    from datamanagement.review_table import SDV_STATES, review_rows

    user = request.user
    if not access.can(user, Action.VIEW_CRF):
        raise PermissionDenied
    keys = ("site", "form", "visit", "sdv", "queries", "signed", "locked")
    filters = {k: (request.GET.get(k) or "").strip() for k in keys}
    rows = review_rows(user=user, **filters)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    forms = [c for c in registry.all_crfs() if sees_form(user, c)]
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "datamanagement/forms.html", {
        "page": page, "filters": filters, "query": query, "total": len(rows),
        "sites": access.scope(Site.objects.order_by("code"), user, Action.VIEW_CRF, site_field="pk"),
        "forms": forms, "visits": sorted({c.visit for c in forms if c.visit}), "sdv_states": SDV_STATES,
    })


def _shown(field, value, tz) -> str:
    """A value as the site entered it: the label of a coded value (never the stored code),
    yes/no in the reader's language, instants in the site's zone, numbers with their unit."""
    if value is None or value == "":
        return "—"
    choices = getattr(field, "flatchoices", None) or []
    if choices:
        for key, label in choices:
            if str(key) == str(value):
                return str(label)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    text = display(value, tz)
    unit = getattr(field, "unit", "") or _UNITS.get(field.name, "")
    return f"{text} {unit}" if unit and text != "—" else text


# Units of the numeric fields whose label does not carry one.
_UNITS = {"stent_diameter_mm": "mm", "stent_length_mm": "mm", "platelets": "×10⁹/L", "aptt": "s",
          "gfr": "mL/min/1.73 m²"}


@login_required
def crf_review(request, code: str, pk: int):
    """One CRF instance field by field: value, queries, SDV (and why it was cleared), lock."""
    user = request.user
    crf, instance = selectors.crf_instance_for(user=user, code=code, pk=pk)
    site_id = site_id_of(instance)
    counts = selectors.query_counts_for(user=user, instances=[instance]).get((crf.code, instance.pk))
    sdv = selectors.sdv_status_for(user=user, instance=instance)
    cleared = selectors.sdv_cleared_for(user=user, instance=instance)
    values = values_of(instance, crf)
    tz = site_of(instance).tz
    fields = []
    for f in data_fields(crf):
        fc = counts.by_field.get(f.name) if counts else None
        fields.append({"name": f.name, "label": str(f.verbose_name), "value": _shown(f, values[f.name], tz),
                       "help": str(f.help_text or ""), "sdv": sdv.get(f.name),
                       "cleared": cleared.get(f.name) if f.name not in sdv else None,
                       "open": (fc or {}).get("open", 0), "answered": (fc or {}).get("answered", 0)})
    lock = active_lock_for(instance)
    return render(request, "datamanagement/crf_review.html", {
        "crf": crf, "instance": instance, "label": label_of(instance), "fields": fields,
        "counts": counts, "lock": lock,
        "can_raise": can_raise(user, crf, site_id), "can_sdv": can_sdv(user, crf, site_id),
        "can_lock": access.can(user, Action.LOCK), "can_enter": can_enter(user, crf, site_id),
        "open_form": QueryOpenForm(field_choices=[(f["name"], f["label"]) for f in fields]),
        "sdv_done": len(sdv), "sdv_total": len(fields),
        "subject": subject_of(instance),
    })


@login_required
@require_POST
def crf_query_open(request, code: str, pk: int):
    user = request.user
    crf, instance = selectors.crf_instance_for(user=user, code=code, pk=pk)
    try:
        q = services.query_open(user=user, instance=instance, field_name=request.POST.get("field_name", ""),
                                text=request.POST.get("text", ""))
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("datamanagement:crf", code=code, pk=pk)
    messages.success(request, _("Query Q%(n)s opened; the site was notified.") % {"n": q.pk})
    return redirect("datamanagement:crf", code=code, pk=pk)


@login_required
@require_POST
def crf_sdv(request, code: str, pk: int):
    user = request.user
    crf, instance = selectors.crf_instance_for(user=user, code=code, pk=pk)
    fields = None if request.POST.get("all") else request.POST.getlist("fields")
    try:
        n = services.sdv_mark(user=user, instance=instance, fields=fields)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(n)s field(s) marked source-verified.") % {"n": n})
    return redirect("datamanagement:crf", code=code, pk=pk)


@login_required
@require_POST
def crf_lock(request, code: str, pk: int):
    user = request.user
    crf, instance = selectors.crf_instance_for(user=user, code=code, pk=pk)
    try:
        services.lock_form(user=user, instance=instance, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The form is locked."))
    return redirect("datamanagement:crf", code=code, pk=pk)


@login_required
def crf_edit_field(request, code: str, pk: int, field: str):
    """Site staff correct one field with a reason (the generic correction path; forms of the
    owning apps use the same crf_write guard)."""
    user = request.user
    crf, instance = selectors.crf_instance_for(user=user, code=code, pk=pk)
    if not can_enter(user, crf, site_id_of(instance)):
        raise PermissionDenied
    if field not in [f.name for f in data_fields(crf)]:
        raise Http404
    error = None
    if request.method == "POST":
        try:
            services.crf_field_correct(user=user, instance=instance, field_name=field,
                                       value=request.POST.get("value", ""), reason=request.POST.get("reason", ""))
        except DomainError as exc:
            error = str(exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("datamanagement:crf", code=code, pk=pk)
    return render(request, "datamanagement/edit_field.html", {
        "crf": crf, "instance": instance, "label": label_of(instance), "field": field,
        "field_label": field_label(crf, field), "error": error, "posted": request.POST,
        "value": display_label(getattr(instance, crf.model._meta.get_field(field).attname),
                               crf.model._meta.get_field(field)),
        "field_input": _field_input(crf, field),
    }, status=422 if error else 200)


def _subject_or_404(user, pk) -> Subject:
    subject = get_object_or_404(Subject.objects.select_related("site"), pk=pk)
    if not (access.can(user, Action.VIEW_CRF, subject.site_id) or access.can(user, Action.ENTER_CRF, subject.site_id)
            or access.can(user, Action.SIGN, subject.site_id)):
        raise Http404
    return subject


@login_required
def subject_overview(request, pk: int):
    """The data-management view of a casebook: forms with query counts and SDV, signatures
    (valid or broken, with why), locks."""
    user = request.user
    subject = _subject_or_404(user, pk)
    forms = []
    all_rows = []
    for crf, rows in instances_of_subject(subject):
        if not sees_form(user, crf):
            continue
        forms.append((crf, rows))
        all_rows.extend(rows)
    counts = selectors.query_counts_for(user=user, instances=all_rows)
    visits = sorted({crf.visit for crf, rows in forms if crf.visit and rows})
    signatures = selectors.signatures_for(user=user, subject=subject)
    latest = {}
    for s in signatures:
        latest.setdefault((s.scope, s.visit), s)
    lock = Lock.objects.filter(active=True, level__in=[LockLevel.SUBJECT, LockLevel.DATABASE]).filter(
        subject__in=[subject, None]).first()
    return render(request, "datamanagement/subject.html", {
        "subject": subject, "forms": [
            {"crf": crf, "rows": [{"obj": r, "counts": counts.get((crf.code, r.pk))} for r in rows]}
            for crf, rows in forms],
        "visits": visits, "signatures": signatures, "latest": latest,
        "casebook_signature": latest.get((SignatureScope.CASEBOOK, "")),
        "visit_signatures": [(v, latest.get((SignatureScope.VISIT, v))) for v in visits],
        "can_sign": access.can(user, Action.SIGN, subject.site_id), "lock": lock,
        "can_lock": access.can(user, Action.LOCK),
    })


@login_required
def sign(request, pk: int):
    """E-signature: the meaning is shown, the password re-entered (21 CFR 11.50, 11.200)."""
    user = request.user
    subject = _subject_or_404(user, pk)
    access.require(user, Action.SIGN, subject.site_id)
    scope = request.POST.get("scope") or request.GET.get("scope") or SignatureScope.CASEBOOK
    visit = request.POST.get("visit") or request.GET.get("visit") or ""
    if scope not in SignatureScope.values:
        raise Http404
    form = SignForm(request.POST or None, initial={"scope": scope, "visit": visit})
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            services.signature_sign(user=user, subject=subject, scope=scope, visit=visit,
                                    password=form.cleaned_data["password"], ip=client_ip(request))
        except DomainError as exc:
            error = str(exc)
        else:
            messages.success(request, _("Signed."))
            return redirect("datamanagement:subject", pk=subject.pk)
    meaning = services.signature_meaning(user=user, subject=subject, scope=scope, visit=visit)
    return render(request, "datamanagement/sign.html", {
        "subject": subject, "form": form, "meaning": meaning, "scope": scope, "visit": visit,
        "error": error, "now": timezone.now(),
    }, status=422 if error else 200)


@login_required
@require_POST
def subject_lock(request, pk: int):
    user = request.user
    subject = _subject_or_404(user, pk)
    try:
        services.lock_subject(user=user, subject=subject, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Subject %(n)s is locked.") % {"n": subject.number})
    return redirect("datamanagement:subject", pk=pk)


@login_required
def sdv_progress(request):
    user = request.user
    if not (access.can(user, Action.SDV) or access.can(user, Action.VIEW_CRF)):
        raise PermissionDenied
    site_rows, subject_rows = selectors.sdv_progress(user=user, site_code=request.GET.get("site") or None)
    return render(request, "datamanagement/sdv.html", {"site_rows": site_rows, "subject_rows": subject_rows})


@login_required
def locks(request):
    user = request.user
    if not access.can(user, Action.LOCK):
        raise PermissionDenied
    if request.method == "POST":
        try:
            if request.POST.get("action") == "lock_database":
                services.lock_database(user=user, reason=request.POST.get("reason", ""))
                messages.success(request, _("The database is locked."))
            elif request.POST.get("action") == "unlock":
                lock = get_object_or_404(Lock, pk=int_field(request.POST, "lock", default=0))
                services.lock_release(user=user, lock=lock, reason=request.POST.get("reason", ""))
                messages.success(request, _("Unlocked."))
            else:
                raise Http404
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("datamanagement:locks")
    return render(request, "datamanagement/locks.html", {
        "locks": selectors.active_locks(user=user),
        "history": Lock.objects.filter(active=False).select_related("locked_by", "unlocked_by")[:50],
    })


@login_required
def edit_checks(request):
    """The edit checks of every form, as declared in datamanagement/editchecks.py."""
    from datamanagement import editchecks

    user = request.user
    if not (access.can(user, Action.RAISE_QUERY) or access.can(user, Action.VIEW_CRF)):
        raise PermissionDenied
    forms = []
    for crf in registry.all_crfs():
        checks = editchecks.checks_for(crf.code)
        if checks and sees_form(user, crf):
            forms.append({"crf": crf, "checks": [
                {"code": c.code, "field": field_label(crf, c.field), "severity": c.severity, "rule": _(str(c.rule)),
                 "deviation": c.deviation} for c in checks]})
    return render(request, "datamanagement/editchecks.html", {"forms": forms})


@login_required
def audit(request):
    """Audit trail viewer: per field, form, subject and user; filterable; CSV export."""
    user = request.user
    if not access.can(user, Action.AUDIT_TRAIL):
        raise PermissionDenied
    filters = AuditFilterForm(request.GET or None, form_choices=_form_choices(user))
    f = filters.cleaned_data if filters.is_valid() else {}
    kwargs = dict(user=user, form=f.get("form") or None, field=f.get("field") or None,
                  subject=f.get("subject") or None, username=f.get("user") or None,
                  since=f.get("since"), until=f.get("until"), object_id=f.get("object_id") or None)
    if request.GET.get("format") == "csv":
        entries = audit_trail.audit_entries(limit=50000, **kwargs)
        services_audit_export(user=user, count=len(entries), filters={k: str(v) for k, v in kwargs.items() if k != "user" and v})
        return _csv_response(entries)
    entries = audit_trail.audit_entries(limit=500, **kwargs)
    return render(request, "datamanagement/audit.html", {
        "filters": filters, "entries": entries, "csv_query": request.GET.urlencode(),
    })


def services_audit_export(*, user, count: int, filters: dict) -> None:
    from django.db import transaction

    from audit.models import AuditAction
    from audit.services import audit_event_record

    with transaction.atomic(durable=True):
        audit_event_record(action=AuditAction.EXPORT, actor=user, summary=f"Audit trail CSV export ({count} rows)",
                           detail={"filters": filters})


def _csv_response(entries) -> HttpResponse:
    """The audit trail as CSV (cells neutralised against formula injection), closed by a
    `chain_head` row: the newest link of the tamper-evident chain at export time, so an
    inspector can later check the archive against `manage.py audit_verify --head <hash>`."""
    head = chain_head()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{timezone.now():%Y%m%d-%H%M}.csv"'
    response["X-Audit-Chain-Head"] = f"{head['link']}:{head['hash']}"
    writer = csv.writer(response)
    writer.writerow(["when_utc", "user", "kind", "form", "object", "field", "old_value", "new_value", "reason",
                     "summary", "ip"])
    for e in entries:
        writer.writerow(neutralise_row([e.at.isoformat(), e.username, e.kind, e.form, e.object_label, e.field,
                                        "" if e.old is None else e.old, "" if e.new is None else e.new, e.reason,
                                        e.summary, e.ip]))
    writer.writerow([head["at"], "", "chain_head", "", head["table"], "", "", "", "",
                     f"audit chain head: link {head['link']} hash {head['hash']}", ""])
    return response


def crf_url(instance) -> str:
    return reverse("datamanagement:crf", args=[crf_of(instance).code, instance.pk])


__all__ = ["can_answer", "can_view_crf"]
