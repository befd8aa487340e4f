"""Thin views: read through selectors, write through services, show domain errors in plain
words (never a 500)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core.exceptions import DataLocked
from core.roles import Action
from randomization import blocks, selectors, services
from randomization.exceptions import RandomizationError
from randomization.forms import (
    BreachForm,
    GenerateListForm,
    ImportListForm,
    SimulationForm,
    TrialConfigForm,
)
from randomization.models import Arm, SimulationMethod, TrialConfig

# --- The randomization screen (site staff) -------------------------------------------------


@login_required
def home(request):
    if not access.can(request.user, Action.RANDOMIZE):
        raise PermissionDenied
    return render(request, "randomization/home.html", {
        "screenings": selectors.screenings_ready(user=request.user)[:50],
        "recent": selectors.recent_allocations(user=request.user),
    })


@login_required
def randomize(request, screening_id: int):
    """Key facts of the confirmed screening and one confirm button; POST randomizes."""
    user = request.user
    screening = selectors.screening_for_randomization(user=user, screening_id=screening_id)
    # A POST needs no look-up of an earlier allocation: subject_randomize returns it (a double
    # click or a retry), under the screening's lock — one query less on the hot path.
    existing = None if request.method == "POST" else selectors.allocation_of_screening(user=user, screening=screening)
    if existing is not None:
        return redirect("randomization:result", allocation_id=existing.pk)
    error = None
    if request.method == "POST":
        try:
            allocation = services.subject_randomize(screening=screening, user=user)
        except (RandomizationError, DataLocked) as exc:
            error = str(exc)
        else:
            return redirect("randomization:result", allocation_id=allocation.pk)
    passes = list(screening.passes.filter(active=True).order_by("position"))
    problem = None if error else services.screening_readiness_problem(screening)
    # No list entry for this patient's stratum: say so before anyone presses the button.
    supply = [] if (error or problem or not screening.circulation) else selectors.supply_problems(
        user=user, site_id=screening.site_id, circulation=screening.circulation)
    return render(request, "randomization/randomize.html", {
        "screening": screening, "passes": passes, "error": error or problem, "blocked": bool(problem or supply),
        "supply_problems": supply,
        "now": timezone.now(),
    }, status=409 if error else 200)


@login_required
def result(request, allocation_id: int):
    allocation, show_arm = selectors.allocation_for_user(user=request.user, allocation_id=allocation_id)
    return render(request, "randomization/result.html", {
        "allocation": allocation, "subject": allocation.subject, "site": allocation.subject.site,
        "show_arm": show_arm, "arm": allocation.arm if show_arm else None,
        "arm_label": allocation.get_arm_display() if show_arm else None,
    })


# --- Allocation lists (statistician) ----------------------------------------------------------


def _lists_context(request, **forms):
    user = request.user
    config = TrialConfig.current()
    return {
        "lists": selectors.allocation_lists(user=user),
        "supply": selectors.stratum_supply(user=user),
        "config": config,
        "alerts": selectors.list_page_alerts(user=user),
        "generate_form": forms.get("generate_form") or GenerateListForm(initial={"seed": ""}),
        "import_form": forms.get("import_form") or ImportListForm(),
        "config_form": forms.get("config_form") or TrialConfigForm(
            initial={"method": config.method, "minimisation_p": config.minimisation_p}),
    }


@login_required
def lists(request):
    access.require(request.user, Action.ALLOCATION_LIST)
    return render(request, "randomization/lists.html", _lists_context(request))


@login_required
@require_POST
def list_generate(request):
    access.require(request.user, Action.ALLOCATION_LIST)
    form = GenerateListForm(request.POST)
    if form.is_valid():
        try:
            created = services.allocation_list_generate(
                user=request.user, seed=form.cleaned_data["seed"],
                entries_per_stratum=form.cleaned_data["entries_per_stratum"],
                site_codes=form.cleaned_data["sites"] or None, name=form.cleaned_data["name"])
        except RandomizationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("List %(id)s generated; SHA-256 %(sha)s.") % {"id": created.pk, "sha": created.sha256})
            return redirect("randomization:list_detail", list_id=created.pk)
    return render(request, "randomization/lists.html", _lists_context(request, generate_form=form), status=400)


@login_required
@require_POST
def list_import(request):
    access.require(request.user, Action.ALLOCATION_LIST)
    form = ImportListForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            created = services.allocation_list_import(user=request.user, csv_text=form.cleaned_data["file"],
                                                      name=form.cleaned_data["name"])
        except RandomizationError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, _("List %(id)s imported; SHA-256 %(sha)s.") % {"id": created.pk, "sha": created.sha256})
            return redirect("randomization:list_detail", list_id=created.pk)
    return render(request, "randomization/lists.html", _lists_context(request, import_form=form), status=400)


@login_required
@require_POST
def config(request):
    access.require(request.user, Action.ALLOCATION_LIST)
    form = TrialConfigForm(request.POST)
    if form.is_valid():
        try:
            services.trial_config_update(user=request.user, method=form.cleaned_data["method"],
                                         minimisation_p=form.cleaned_data["minimisation_p"])
        except RandomizationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Randomization settings saved."))
            return redirect("randomization:lists")
    return render(request, "randomization/lists.html", _lists_context(request, config_form=form), status=400)


@login_required
def list_detail(request, list_id: int):
    allocation_list = selectors.allocation_list_detail(user=request.user, list_id=list_id)
    entries = selectors.list_entries(user=request.user, allocation_list=allocation_list)
    page = Paginator(entries, 200).get_page(request.GET.get("page"))
    return render(request, "randomization/list_detail.html", {
        "list": allocation_list, "page": page,
        "supply": selectors.stratum_supply(user=request.user, allocation_list=allocation_list),
        "verified": selectors.list_verify(user=request.user, allocation_list=allocation_list),
    })


@login_required
def list_csv(request, list_id: int):
    allocation_list = selectors.allocation_list_detail(user=request.user, list_id=list_id)
    entries = selectors.list_entries(user=request.user, allocation_list=allocation_list)
    text = blocks.to_csv(blocks.Entry(e.stratum, e.sequence, e.block, e.block_size, e.arm) for e in entries)
    audit_event_record(action=AuditAction.EXPORT, actor=request.user, obj=allocation_list,
                       summary=f"Allocation list {allocation_list.pk} downloaded as CSV",
                       detail={"sha256": allocation_list.sha256}, reveals_allocation=True)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="allocation-list-{allocation_list.pk}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def list_set_active(request, list_id: int):
    allocation_list = selectors.allocation_list_detail(user=request.user, list_id=list_id)
    services.allocation_list_set_active(user=request.user, allocation_list=allocation_list,
                                        active=request.POST.get("active") == "1")
    return redirect("randomization:list_detail", list_id=list_id)


# --- Simulation of the method (statistician) ---------------------------------------------------


@login_required
def simulations(request):
    """The parameters form (POST starts a simulation on the worker) and the latest runs."""
    access.require(request.user, Action.ALLOCATION_LIST)
    form = SimulationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.simulation_start(user=request.user, **form.cleaned_data)
        except RandomizationError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("randomization:simulation", run_id=run.pk)
    return render(request, "randomization/simulations.html", {
        "form": form, "runs": selectors.simulation_runs(user=request.user),
    }, status=400 if request.method == "POST" else 200)


def _method_labels() -> dict[str, str]:
    return {SimulationMethod.BLOCKS: SimulationMethod.BLOCKS.label,
            SimulationMethod.MINIMISATION: SimulationMethod.MINIMISATION.label}


@login_required
def simulation(request, run_id: int):
    """One simulation: its parameters, a progress bar until it is done (static/edc/progress.js
    polls simulation_status), then the balance tables and charts."""
    from randomization import charts
    from randomization import simulation as simulation_module

    run = selectors.simulation_run(user=request.user, run_id=run_id)
    labels = _method_labels()
    levels = [("overall", _("Overall (one value per simulated trial)")),
              ("per_site", _("Per site (one value per site and trial)")),
              ("per_stratum", _("Per stratum: site × circulation (one value per stratum and trial)"))]
    tables, figures = [], []
    if run.status == "done":
        for method in run.methods:
            r = run.result.get(method)
            if r:
                tables.append({"method": method, "label": labels[method], "result": r,
                               "colour": charts.COLOURS[method],
                               "rows": [(title, r[key]) for key, title in levels]})
        cap = simulation_module.HISTOGRAM_CAP
        for key, title in levels:
            series = [(t["method"], t["label"], t["result"][key]["histogram"]) for t in tables]
            rows = [{"value": f"≥{v}" if v == cap else str(v),
                     "percents": [f"{100 * t['result'][key]['histogram'][v]['share']:.1f}" for t in tables]}
                    for v in range(cap + 1)]
            figures.append({"key": key, "title": title, "rows": rows, "chart": charts.histogram(series, cap=cap)})
    return render(request, "randomization/simulation.html", {
        "run": run, "tables": tables, "figures": figures, "cap": simulation_module.HISTOGRAM_CAP,
        "arm_a": Arm.STENTING.label, "arm_b": Arm.CONTINUED_MT.label,
    })


@login_required
def simulation_status(request, run_id: int):
    """JSON for the progress bar: status, its label, progress in %, finished."""
    run = selectors.simulation_run(user=request.user, run_id=run_id)
    return JsonResponse({"status": run.status, "label": str(run.get_status_display()), "progress": run.progress,
                         "finished": run.is_finished})


# --- Blinding breaches and notifications ----------------------------------------------------


@login_required
def breach_new(request):
    user = request.user
    if not access.can(user, Action.BLINDING_BREACH):
        raise PermissionDenied
    sites = access.visible_sites(user)
    form = BreachForm(request.POST or None, sites=sites, initial={"occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.blinding_breach_report(
                user=user, site=data["site"], occurred_at=data["occurred_at"], route=data["route"],
                description=data["description"], subject=data["subject"], unblinded_user=data["unblinded_user"],
                unblinded_person=data["unblinded_person"])
        except RandomizationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Thank you. The blinding breach report is filed and the statistician informed."))
            return redirect("randomization:breaches")
    return render(request, "randomization/breach_form.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


@login_required
def breaches(request):
    if not access.can(request.user, Action.BLINDING_BREACH):
        raise PermissionDenied
    return render(request, "randomization/breaches.html", {
        "breaches": selectors.breaches_for_user(user=request.user)[:200]})


@login_required
def notifications(request):
    """Old address of the randomization notices: they are in the one inbox now."""
    return redirect("followup:notifications")
