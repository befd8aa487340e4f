"""Thin views of central adjudication: selectors read, services write, domain errors shown
in plain words next to the field they name."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from adjudication import agreement_report, protocol, selectors, services, uploads
from adjudication import dsmb as dsmb_report
from adjudication.exceptions import AdjudicationError, InvalidRead
from adjudication.models import CaseStatus, DsmbSnapshot, ReadStatus
from adjudication.mrs_interview import QUESTIONS
from core import access
from core.models import Subject
from core.roles import Action


@login_required
def home(request):
    user = request.user
    if selectors.is_reader(user):
        return redirect("adjudication:worklist")
    if access.can(user, Action.ADJUDICATION_STATUS):
        return redirect("adjudication:status")
    if access.can(user, Action.DSMB_OPEN) or access.can(user, Action.DSMB_REPORT):
        return redirect("adjudication:dsmb")
    raise PermissionDenied


@login_required
def worklist(request):
    if not selectors.is_reader(request.user):
        raise PermissionDenied
    kind = request.GET.get("kind", "")
    if kind and kind not in protocol.KINDS:
        kind = ""
    work = selectors.worklist(request.user, kind=kind or None)
    kinds = [(k, protocol.KINDS[k].label) for k in selectors.reader_kinds(request.user)]
    return render(request, "adjudication/worklist.html", {"work": work, "kinds": kinds, "kind": kind})


@require_POST
@login_required
def claim(request, pk):
    case = selectors.case_for_reader(request.user, pk)
    try:
        services.read_claim(user=request.user, case=case)
    except AdjudicationError as exc:
        messages.error(request, str(exc))
        return redirect("adjudication:worklist")
    return redirect("adjudication:case", pk=case.pk)


@login_required
def case(request, pk):
    user = request.user
    case = selectors.case_for_reader(user, pk)
    read = selectors.read_of(user, case)
    errors, data = {}, {}
    if request.method == "POST":
        data = request.POST
        try:
            if request.POST.get("action") == "consensus":
                services.consensus_record(user=user, case=case, data=request.POST,
                                          note=request.POST.get("note", ""))
                messages.success(request, _("Consensus recorded; the case is final."))
                return redirect("adjudication:worklist")
            if read is None or read.status != ReadStatus.DRAFT:
                raise AdjudicationError(_("Take the read from the worklist first."))
            finalize = request.POST.get("action") == "finalize"
            services.read_save(user=user, read=read, data=request.POST, finalize=finalize)
            if finalize:
                messages.success(request, _("Read saved as final and locked."))
                return redirect("adjudication:worklist")
            messages.success(request, _("Read saved (not final yet)."))
            return redirect("adjudication:case", pk=case.pk)
        except InvalidRead as exc:
            errors[exc.field] = str(exc)
        except AdjudicationError as exc:
            errors["form"] = str(exc)
        case.refresh_from_db()
    elif read is not None:
        data = {**read.values, **(read.values.get("interview") or {}), "note": read.note}
    return render(request, "adjudication/case.html", {
        "case": case, "read": read, "spec": protocol.KINDS[case.kind], "kind": case.kind,
        "materials": selectors.case_materials(user, case), "context": selectors.case_context(user, case),
        "earlier": selectors.earlier_reads(user, case), "data": data, "errors": errors,
        "etici": protocol.ETICI_CODES, "heidelberg": protocol.HEIDELBERG_CODES,
        "questions": QUESTIONS, "sich_keys": protocol.SICH_KEYS, "mrs_range": range(7),
        "may_consensus": case.status == CaseStatus.DISAGREEMENT and case.reads_claimed == protocol.READS_PER_CASE,
        "editable": read is not None and read.status == ReadStatus.DRAFT,
    }, status=400 if errors else 200)


@login_required
def material(request, pk):
    item = selectors.material_for_view(request.user, pk)
    storage = services.material_storage()
    try:
        handle = storage.open(item.storage_name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    services.material_view_record(user=request.user, material=item)
    response = FileResponse(handle, content_type=item.content_type, as_attachment=False,
                            filename=item.display_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


@login_required
def subject_material(request, number):
    subject = get_object_or_404(Subject.objects.select_related("site"), number=number)
    access.object_site_or_404(request.user, Action.UPLOAD_MATERIAL, subject.site_id)
    error = None
    if request.method == "POST":
        if uploads.exceeded(request):  # stopped while streaming in (adjudication.uploads)
            return _material_page(request, subject, uploads.too_large_message(), status=413)
        # A DICOM series is several files: each is checked and stored on its own; the first
        # refused file stops the batch and is named.
        files = request.FILES.getlist("file") or [None]
        stored = 0
        for position, uploaded in enumerate(files, start=1):
            try:
                services.material_upload(user=request.user, subject=subject,
                                         category=request.POST.get("category", ""), uploaded=uploaded)
                stored += 1
            except AdjudicationError as exc:
                error = str(exc) if len(files) == 1 else _("File %(n)s of %(total)s: %(error)s") % {
                    "n": position, "total": len(files), "error": exc}
                break
        if stored:
            messages.success(request, ngettext("%(n)s file checked, de-identified where needed and stored.",
                                               "%(n)s files checked, de-identified where needed and stored.",
                                               stored) % {"n": stored})
        if error is None:
            return redirect("adjudication:subject_material", number=subject.number)
    return _material_page(request, subject, error)


def _material_page(request, subject, error, status=None):
    return render(request, "adjudication/subject_material.html", {
        "subject": subject, "materials": selectors.subject_materials(request.user, subject),
        "categories": selectors.upload_categories(request.user, subject), "error": error,
        "max_bytes": services.settings.EDC_MATERIAL_MAX_BYTES,
    }, status=status or (400 if error else 200))


@login_required
def status(request):
    access.require(request.user, Action.ADJUDICATION_STATUS)
    return render(request, "adjudication/status.html", selectors.status_overview(request.user))


@login_required
def agreement(request):
    access.require(request.user, Action.AGREEMENT)
    return render(request, "adjudication/agreement.html", {"report": agreement_report.report(request.user)})


@login_required
def dsmb(request):
    user = request.user
    closed = access.can(user, Action.DSMB_REPORT)
    if not closed and not access.can(user, Action.DSMB_OPEN):
        raise PermissionDenied
    error = None
    if request.method == "POST":
        try:
            snap = services.dsmb_snapshot_take(user=user, cut_off=request.POST.get("cut_off", ""))
            messages.success(request, _("Snapshot frozen at the data cut-off."))
            return redirect("adjudication:dsmb_closed", pk=snap.pk)
        except AdjudicationError as exc:
            error = str(exc)
    snapshots = list(DsmbSnapshot.objects.only("id", "cut_off", "taken_at", "sha256"))
    return render(request, "adjudication/dsmb.html", {"snapshots": snapshots, "closed": closed, "error": error},
                  status=400 if error else 200)


def _report(request, pk, *, closed: bool):
    snap = get_object_or_404(DsmbSnapshot, pk=pk)
    data = dsmb_report.closed_report(snap) if closed else dsmb_report.open_report(snap)
    if request.GET.get("format") == "pdf":
        from adjudication.dsmb_pdf import report_pdf

        response = HttpResponse(report_pdf(data), content_type="application/pdf")
        response["Content-Disposition"] = (f'attachment; filename="dsmb-{"closed" if closed else "open"}-'
                                           f'{snap.cut_off:%Y%m%d}-{snap.pk}.pdf"')
        return response
    return render(request, "adjudication/dsmb_report.html", {"r": data, "snap": snap, "closed": closed})


@login_required
def dsmb_closed(request, pk):
    # The closed report is by arm: the unblinded statistician only.
    access.require(request.user, Action.DSMB_REPORT)
    if not access.sees_arm(request.user):
        raise PermissionDenied
    return _report(request, pk, closed=True)


@login_required
def dsmb_open(request, pk):
    if not (access.can(request.user, Action.DSMB_OPEN) or access.can(request.user, Action.DSMB_REPORT)):
        raise PermissionDenied
    return _report(request, pk, closed=False)
