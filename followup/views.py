"""Thin views: selectors read, services write, domain errors shown in plain words."""

from __future__ import annotations

from django import forms as djforms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core import access
from core import protocol as P
from core import selectors as core_selectors
from core import services as core_services
from core.http import int_field
from core.roles import Action
from followup import selectors, services
from followup.exceptions import (
    DataLocked,
    HardCheckFailed,
    NotPermitted,
    ReasonRequired,
    StaleVersion,
)
from followup.forms import PassFormSet
from followup.models import ProcedurePass


def _may_see_subjects(user) -> bool:
    return access.any_of(user, [Action.VIEW_CRF, Action.ENTER_CRF, Action.ENTER_DAY90])


@login_required
def subjects(request):
    """Subjects of the user's sites, with "due this week" and "overdue" lists."""
    user = request.user
    if not _may_see_subjects(user):
        raise PermissionDenied
    now = timezone.now()
    search = request.GET.get("q", "")
    page = Paginator(selectors.subject_rows(user, search=search), 50).get_page(request.GET.get("page"))
    rows = [(s, selectors.visit_states(user, s, now)) for s in page.object_list]
    arms = selectors.arms_for(user, [s for s, _states in rows])
    due, overdue = selectors.due_lists(user, now)
    return render(request, "followup/subjects.html", {
        "page": page, "rows": rows, "arms": arms, "due": due, "overdue": overdue, "search": search,
    })


@login_required
def casebook(request, number):
    book = selectors.casebook(request.user, number)
    # Data-management status (queries per visit, signatures, lock): datamanagement.selectors.
    from datamanagement.selectors import casebook_panel

    dm = casebook_panel(user=request.user, subject=book.subject,
                        records={row.code: row.record for row in book.rows if row.code != "V0"})
    return render(request, "followup/casebook.html", {"book": book, "subject": book.subject,
                                                      "site": book.subject.site, "dm": dm})


def _display(field, value):
    if value is None or value == "":
        return "—"
    if getattr(field, "choices", None):
        for key, label in field.choices:
            if str(key) == str(value):
                return label
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return value


def _conflict_rows(form, current):
    rows = []
    for name, field in form.fields.items():
        if name in ("form_version", "reason"):
            continue
        mine = form.cleaned_data.get(name)
        theirs = getattr(current, name, None) if current is not None else None
        if mine != theirs:
            rows.append({"label": field.label, "mine": _display(field, mine), "theirs": _display(field, theirs)})
    return rows


def _passes_initial(procedure):
    if procedure is None:
        return []
    return [{"technique": p.technique, "device": p.device, "at": p.at, "etici": p.etici}
            for p in ProcedurePass.objects.filter(procedure=procedure).order_by("position")]


@login_required
def crf(request, number, code, pk=None):
    """Open, enter or change one form of one subject (visit forms V1–V5 and event forms)."""
    form_def = selectors.form_of_page(code)  # the registry entry (core.crf)
    if form_def.form_class is None:
        raise PermissionDenied
    user = request.user
    subject = selectors.subject_for(user, number)
    level = selectors.require_form(user, subject, code)
    model = form_def.model
    repeating = form_def.repeating
    if repeating and pk is not None:
        instance = get_object_or_404(model, pk=pk, subject=subject)
    elif repeating:
        instance = None
    else:
        instance = model.objects.filter(subject=subject).first()
    form_cls = form_def.form_class
    conflict = None
    saved_by = None
    # Datetimes are entered and shown in the subject's site zone (SPEC §3).
    with timezone.override(subject.site.tz):
        passes_formset = None
        if request.method == "POST":
            if level != selectors.EDIT:
                raise PermissionDenied
            form = form_cls(request.POST, instance=instance, editing=instance is not None)
            if code == "V1":
                passes_formset = PassFormSet(request.POST, prefix="passes")
            valid = form.is_valid() and (passes_formset is None or passes_formset.is_valid())
            if valid:
                kwargs = {"subject": subject, "user": user, "data": form.model_data(),
                          "version": form.cleaned_data.get("form_version"),
                          "reason": form.cleaned_data.get("reason") or ""}
                if repeating and pk is not None:
                    kwargs["pk"] = pk
                try:
                    if code == "V1":
                        passes = [f.cleaned_data for f in passes_formset.forms
                                  if f.cleaned_data and f.cleaned_data.get("technique")]
                        record = services.procedure_save(passes=passes, **kwargs)
                    else:
                        record = form_def.save(**kwargs)
                except (HardCheckFailed, DataLocked) as exc:
                    for name, msg in exc.errors.items():
                        form.add_error(name if name in form.fields else None, msg)
                except ReasonRequired as exc:
                    form.add_error("reason" if "reason" in form.fields else None, str(exc))
                except NotPermitted as exc:
                    raise PermissionDenied(str(exc)) from None
                except StaleVersion as exc:
                    current = exc.current
                    conflict = {"message": str(exc), "rows": _conflict_rows(form, current),
                                "current": current}
                    saved_by = getattr(current, "updated_by", None)
                    data = request.POST.copy()
                    data["form_version"] = str(current.version) if current is not None else ""
                    form = form_cls(data, instance=current, editing=current is not None)
                    form.is_valid()
                else:
                    messages.success(request, _("%(form)s of %(subject)s saved.") % {
                        "form": form_def.title, "subject": subject.number})
                    if code == "V5" and record.outside_window:
                        messages.warning(request, _(
                            "The day-90 assessment date is study day %(day)s, outside %(window)s. "
                            "It was saved; the data manager will query it.") % {
                                "day": record.study_day, "window": P.VISIT_RULES["V5"].text})
                    return redirect("followup:casebook", number=subject.number)
        else:
            form = form_cls(instance=instance, editing=instance is not None, read_only=level == selectors.VIEW)
            if code == "V1":
                initial = _passes_initial(instance)
                formset_cls = djforms.formset_factory(PassFormSet.form, extra=max(1, 3 - len(initial)),
                                                      max_num=10)
                passes_formset = formset_cls(prefix="passes", initial=initial)
        from datamanagement.selectors import form_panel  # queries per field, lock

        return render(request, "followup/crf_form.html", {
            "subject": subject, "site": subject.site, "code": code, "form": form, "record": instance,
            "label": form_def.title, "read_only": level != selectors.EDIT,
            "passes": passes_formset, "conflict": conflict, "saved_by": saved_by,
            "breaches": selectors.blinding_breaches(subject) if code == "V5" else [],
            "window": P.VISIT_RULES.get(code),
            "dm_form": form_panel(user=request.user, instance=instance),
        })


@login_required
def notifications(request):
    """The one inbox: visit reminders, query notices and randomization notices together."""
    return render(request, "followup/notifications.html", {
        "items": core_selectors.notifications_for(user=request.user)[:100]})


@login_required
@require_POST
def notifications_read(request):
    ids = [int_field({"id": x}, "id") for x in request.POST.getlist("id")] or None
    core_services.notification_mark_read(user=request.user, ids=ids)
    return redirect("followup:notifications")
