"""Screening pages: thin views over eligibility.selectors (reads) and eligibility.services
(writes). Domain refusals are shown in plain words next to what the user typed, never a 500."""

from __future__ import annotations

import csv
import zoneinfo
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core import protocol as P
from core.csvsafe import neutralise_row
from core.exceptions import DataLocked, HardCheckFailed, ReasonRequired, StaleVersion
from core.http import int_field
from core.models import Site
from core.roles import Action
from eligibility import derive, rules, sections, selectors, services
from eligibility.data import screening_data
from eligibility.exceptions import (
    ScreeningError,
    ScreeningNotPermitted,
)
from eligibility.forms import (
    CloseForm,
    ConfirmForm,
    PassFormSet,
    ScreeningForm,
    passes_from_formset,
)
from eligibility.models import ScreeningOutcome
from eligibility.validation import label


def _activate_site_zone(site: Site) -> None:
    # Times on the CRF are typed and shown in the screening site's zone (SPEC §3).
    timezone.activate(zoneinfo.ZoneInfo(site.time_zone))


def _screen_sites(user) -> list[Site]:
    return list(access.scope(Site.objects.all(), user, Action.SCREEN, site_field="pk").order_by("code"))


def _verdict_context(verdict: rules.Verdict, data: dict | None = None) -> dict:
    data = data or {}
    return {
        "verdict": verdict,
        # The sticky verdict bar: the first failed criterion with its reason, or how many
        # fields are still missing.
        "first_failure": next((c for c in verdict.criteria if c.state == rules.NOT_MET), None),
        "missing_count": len(verdict.missing),
        "section_states": sections.section_states(verdict, data),
        # The 15 NIHSS items start folded when the total was typed without them.
        "nihss_items_open": derive.nihss_entry(data.get("nihss_items"), data.get("nihss_baseline"))
        != P.NIHSS_ENTRY_TOTAL,
        "nihss_total_display": _nihss_display(verdict),
        "interval_display": derive.format_interval(verdict.lkw_to_puncture),
        "counts": {
            "met": sum(c.state == rules.MET for c in verdict.criteria),
            "not_met": sum(c.state == rules.NOT_MET for c in verdict.criteria),
            "missing": sum(c.state == rules.MISSING for c in verdict.criteria),
            "total": len(verdict.criteria),
        },
    }


def _nihss_display(verdict: rules.Verdict) -> str:
    if verdict.nihss_total is not None:
        return str(verdict.nihss_total)
    return _("incomplete")


def _bind(request, *, can_attest: bool, site: Site, initial=None, passes=None):
    """The CRF form and its passes formset, bound to POST data or filled from `initial`."""
    if request.method == "POST":
        form = ScreeningForm(request.POST, can_attest=can_attest, tz_name=site.time_zone,
                             initial=initial or {})
        formset = PassFormSet(request.POST, prefix="passes")
    else:
        form = ScreeningForm(initial=initial or {}, can_attest=can_attest, tz_name=site.time_zone)
        formset = PassFormSet(initial=passes or [], prefix="passes")
    return form, formset


def _form_data(form, formset) -> dict:
    data = form.to_data()
    data["passes"] = passes_from_formset(formset)
    return data


def _apply_service_errors(form, exc: HardCheckFailed | DataLocked) -> None:
    for field, message in exc.errors.items():
        form.add_error(field if field in form.fields else None, message)


def _crf_context(request, form, formset, *, site, screening=None, reason_error=None):
    # Bound forms were validated by the caller; their valid fields are evaluated as typed.
    data = _form_data(form, formset) if form.is_bound else (screening_data(screening) if screening else {})
    verdict = rules.evaluate(data)
    ctx = {"form": form, "formset": formset, "site": site, "screening": screening,
           "reason_error": reason_error, "error_summary": _error_summary(form, formset)}
    ctx.update(_verdict_context(verdict, data))
    return ctx


def _error_summary(form, formset) -> list[str]:
    if not form.is_bound:
        return []
    out = []
    for field, errors in form.errors.items():
        name = form.fields[field].label if field in form.fields else ""
        for e in errors:
            out.append(e if (not name or str(name) in e or label(field) in e) else f"{name}: {e}")
    for i, errors in enumerate(formset.errors if formset.is_bound else [], start=1):
        for field, msgs in errors.items():
            pass_word = _("Pass")
            out.extend(f"{pass_word} {i} {field}: {m}" for m in msgs)
    return out


@login_required
def screening_list_view(request):
    if not access.can(request.user, Action.SCREEN):
        raise PermissionDenied
    page = Paginator(selectors.screening_list(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "eligibility/list.html", {"page": page, "screenings": page.object_list})


@login_required
def screening_create_view(request):
    user = request.user
    sites = _screen_sites(user)
    if not sites:
        raise PermissionDenied
    site = sites[0]
    wanted = request.POST.get("site") or request.GET.get("site")
    if wanted:
        site = next((s for s in sites if str(s.pk) == wanted), None)
        if site is None:
            raise Http404
    _activate_site_zone(site)
    can_attest = access.can(user, Action.CONFIRM_ELIGIBILITY, site)
    form, formset = _bind(request, can_attest=can_attest, site=site)
    if request.method == "POST" and form.is_valid() & formset.is_valid():
        try:
            screening = services.screening_create(site=site, user=user, data=_form_data(form, formset))
        except (HardCheckFailed, DataLocked) as exc:
            _apply_service_errors(form, exc)
        else:
            messages.success(request, _("Screening %(n)s saved: %(s)s.") % {
                "n": screening.number, "s": screening.get_verdict_status_display()})
            return redirect("eligibility:detail", pk=screening.pk)
    ctx = _crf_context(request, form, formset, site=site)
    ctx.update({"sites": sites, "creating": True})
    return render(request, "eligibility/form.html", ctx, status=400 if form.is_bound else 200)


@login_required
def screening_edit_view(request, pk: int):
    user = request.user
    screening = selectors.screening_get(user=user, pk=pk, action=Action.SCREEN)
    site = screening.site
    _activate_site_zone(site)
    if screening.outcome not in (ScreeningOutcome.OPEN, ScreeningOutcome.RANDOMIZED):
        messages.error(request, _("This screening is closed and can no longer be edited."))
        return redirect("eligibility:detail", pk=pk)
    data = screening_data(screening)
    can_attest = access.can(user, Action.CONFIRM_ELIGIBILITY, site)
    form, formset = _bind(request, can_attest=can_attest, site=site,
                          initial=ScreeningForm.initial_from_data(data), passes=data["passes"])
    reason_error = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid() & formset.is_valid():
            try:
                version = int_field(request.POST, "version", default=0)
                services.screening_update(screening=screening, user=user, data=_form_data(form, formset),
                                          version=version, reason=request.POST.get("reason", ""))
            except (HardCheckFailed, DataLocked) as exc:
                _apply_service_errors(form, exc)
            except ReasonRequired as exc:
                reason_error = _("Reason for change: required because saved values change (%(f)s).") % {
                    "f": ", ".join(label(f) for f in exc.fields)}
            except StaleVersion as exc:
                status = 409
                messages.error(request, str(exc))
            except ScreeningNotPermitted:
                raise
            except ScreeningError as exc:
                messages.error(request, str(exc))
            else:
                screening.refresh_from_db()
                messages.success(request, _("Screening %(n)s saved: %(s)s.") % {
                    "n": screening.number, "s": screening.get_verdict_status_display()})
                return redirect("eligibility:detail", pk=pk)
    ctx = _crf_context(request, form, formset, site=site, screening=screening, reason_error=reason_error)
    ctx["version"] = request.POST.get("version", screening.version) if request.method == "POST" else screening.version
    return render(request, "eligibility/form.html", ctx, status=status)


@login_required
@require_POST
def screening_verdict_view(request):
    """htmx: the live verdict panel for what is typed so far (nothing is saved)."""
    user = request.user
    sites = _screen_sites(user)
    if not sites:
        raise PermissionDenied
    wanted = request.POST.get("site")
    site = next((s for s in sites if str(s.pk) == wanted), sites[0]) if wanted else sites[0]
    _activate_site_zone(site)
    form = ScreeningForm(request.POST, tz_name=site.time_zone)
    formset = PassFormSet(request.POST, prefix="passes")
    form.is_valid()
    formset.is_valid()
    data = form.to_data()
    data["passes"] = passes_from_formset(formset) if formset.is_bound and not formset.non_form_errors() else []
    verdict = rules.evaluate(data)
    # The form's clean() ran the hard edit checks: show what would be refused on save.
    problems = _error_summary(form, formset)
    ctx = _verdict_context(verdict, data)
    ctx.update({"problems": problems, "oob": True})
    return render(request, "eligibility/_verdict.html", ctx)


@login_required
def screening_detail_view(request, pk: int):
    user = request.user
    screening = selectors.screening_get(user=user, pk=pk)
    _activate_site_zone(screening.site)
    passes = selectors.screening_passes(screening)
    data = screening_data(screening, passes=passes)
    verdict = rules.evaluate(data)
    site_id = screening.site_id
    is_open = screening.outcome == ScreeningOutcome.OPEN
    ctx = {
        "screening": screening, "passes": passes, "data": data,
        "can_edit": access.can(user, Action.SCREEN, site_id)
        and screening.outcome in (ScreeningOutcome.OPEN, ScreeningOutcome.RANDOMIZED),
        "can_confirm": access.can(user, Action.CONFIRM_ELIGIBILITY, site_id) and is_open
        and screening.confirmed_at is None and verdict.status == "eligible",
        "can_close": access.can(user, Action.SCREEN, site_id) and is_open,
        "can_randomize": access.can(user, Action.RANDOMIZE, site_id) and is_open
        and screening.confirmed_at is not None,
        "randomize_url": _randomize_url(screening.pk),
        "confirm_form": ConfirmForm(), "close_form": CloseForm(),
        "nihss_rows": _nihss_rows(data),
    }
    ctx.update(_verdict_context(verdict, data))
    return render(request, "eligibility/detail.html", ctx)


def _randomize_url(pk: int) -> str:
    """The randomization page of this screening (randomization app), or its home page."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("randomization:randomize", args=[pk])
    except NoReverseMatch:
        return reverse("randomization:home")


def _nihss_rows(data):
    from eligibility.forms import NIHSS_LABELS

    items = data.get("nihss_items") or {}
    return [(code, NIHSS_LABELS[code], items.get(code, "—")) for code in NIHSS_LABELS]


@login_required
@require_POST
def screening_confirm_view(request, pk: int):
    user = request.user
    screening = selectors.screening_get(user=user, pk=pk)
    if not access.can(user, Action.CONFIRM_ELIGIBILITY, screening.site_id):
        raise PermissionDenied(_("Only an investigator of this site may confirm eligibility."))
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tick the confirmation statement to confirm eligibility."))
        return redirect("eligibility:detail", pk=pk)
    try:
        services.screening_confirm(screening=screening, user=user)
    except ScreeningNotPermitted:
        raise
    except ScreeningError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Eligibility of %(n)s confirmed.") % {"n": screening.number})
    return redirect("eligibility:detail", pk=pk)


@login_required
@require_POST
def screening_close_view(request, pk: int):
    user = request.user
    screening = selectors.screening_get(user=user, pk=pk, action=Action.SCREEN)
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a reason to close the screening."))
        return redirect("eligibility:detail", pk=pk)
    try:
        services.screening_close(screening=screening, user=user, reason=form.cleaned_data["reason"],
                                 text=form.cleaned_data["text"])
    except ScreeningNotPermitted:
        raise
    except ScreeningError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Screening %(n)s closed.") % {"n": screening.number})
    return redirect("eligibility:detail", pk=pk)


# --- screening log -----------------------------------------------------------------------


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _log_filters(request, sites) -> selectors.LogFilter:
    site_id = request.GET.get("site")
    site_id = int(site_id) if site_id and site_id.isdigit() and int(site_id) in {s.pk for s in sites} else None
    outcome = request.GET.get("outcome")
    outcome = outcome if outcome in ScreeningOutcome.values else None
    return selectors.LogFilter(site_id=site_id, date_from=_parse_date(request.GET.get("from")),
                               date_to=_parse_date(request.GET.get("to")), outcome=outcome)


@login_required
def screening_log_view(request):
    user = request.user
    if not access.can(user, Action.SCREENING_LOG):
        raise PermissionDenied
    sites = list(selectors.screening_log_sites(user=user))
    filters = _log_filters(request, sites)
    qs = selectors.screening_log(user=user, filters=filters)
    if request.GET.get("format") == "csv":
        return _log_csv(request, qs, filters)
    page = Paginator(qs, 100).get_page(request.GET.get("page"))
    counts = selectors.screening_log_counts(qs)
    per_site = selectors.screening_log_per_site(qs)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "eligibility/log.html", {
        "page": page, "rows": page.object_list, "counts": counts, "sites": sites, "filters": filters,
        "per_site": per_site,
        "outcomes": ScreeningOutcome.choices, "query": query.urlencode(),
        "criterion_titles": {code: str(title) for code, title, _fn in rules.CRITERIA},
    })


class _Echo:
    def write(self, value):
        return value


def _log_csv(request, qs, filters):
    audit_event_record(action=AuditAction.EXPORT, actor=request.user, summary="Screening log CSV",
                       detail={"export": "screening_log", "site": filters.site_id,
                               "from": str(filters.date_from or ""), "to": str(filters.date_to or ""),
                               "outcome": filters.outcome or ""})
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["screening_number", "site", "screened_at_utc", "screened_at_local",
                               "verdict", "failed_criteria", "missing", "confirmed", "outcome",
                               "closed_reason_codes", "closed_reason_text", "closed_at_utc"])
        for s in qs.iterator(chunk_size=2000):
            local = timezone.localtime(s.created_at, zoneinfo.ZoneInfo(s.site.time_zone))
            yield writer.writerow(neutralise_row([
                s.number, s.site.code, s.created_at.isoformat(), f"{local:%Y-%m-%d %H:%M} {s.site.time_zone}",
                s.verdict_status, " ".join(s.verdict_failed), " ".join(s.verdict_missing),
                "yes" if s.confirmed_at else "no", s.outcome, " ".join(s.closed_reason_codes),
                s.closed_reason_text, s.closed_at.isoformat() if s.closed_at else "",
            ]))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="screening_log.csv"'
    return response

