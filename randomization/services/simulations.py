"""The statistician's simulation of the randomization method from the browser
(randomization.simulation, the code behind `manage.py simulate_randomization`): started here
(audited), computed by a Celery task (randomization.tasks.simulate_randomization) that reports
its progress on the SimulationRun row, stored so the page can be reopened.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core.models import User
from core.roles import Action
from randomization import simulation
from randomization.exceptions import NotPermitted, SimulationError
from randomization.models import SimulationMethod, SimulationRun, SimulationStatus

logger = logging.getLogger(__name__)


def simulation_parameter_problems(*, method: str, subjects: int, sites: int, runs: int, seed: int,
                                  minimisation_p: Decimal | float) -> list[str]:
    """What is wrong with these parameters, one sentence naming the field and the rule each
    (empty when they are fine). The form shows the same rules next to its fields."""
    problems = []
    if method not in SimulationMethod.values:
        problems.append(f"Method: choose one of {', '.join(SimulationMethod.values)}; found {method!r}.")
    for name, value in (("subjects", subjects), ("sites", sites), ("runs", runs), ("seed", seed)):
        low, high = simulation.LIMITS[name]
        if not isinstance(value, int) or not low <= value <= high:
            problems.append(f"{name.capitalize()}: a whole number from {low} to {high}; found {value!r}.")
    if not simulation.P_RANGE[0] <= float(minimisation_p) <= simulation.P_RANGE[1]:
        problems.append(f"Minimisation random element: between {simulation.P_RANGE[0]} and "
                        f"{simulation.P_RANGE[1]}; found {minimisation_p}.")
    if not problems:
        work = subjects * runs * (2 if method == SimulationMethod.BOTH else 1)
        if work > simulation.MAX_WORK:
            problems.append(f"Subjects × simulated trials: at most {simulation.MAX_WORK:,} simulated "
                            f"allocations per simulation; found {work:,}.")
    return problems


@transaction.atomic(durable=True)
def simulation_start(*, user: User, method: str, subjects: int, sites: int, runs: int, seed: int,
                     minimisation_p: Decimal | float) -> SimulationRun:
    """Record a simulation (audited) and hand it to the worker after commit."""
    if not access.can(user, Action.ALLOCATION_LIST):
        raise NotPermitted("Only the unblinded statistician may run randomization simulations.")
    problems = simulation_parameter_problems(method=method, subjects=subjects, sites=sites, runs=runs,
                                             seed=seed, minimisation_p=minimisation_p)
    if problems:
        raise SimulationError(" ".join(problems))
    run = SimulationRun.objects.create(method=method, subjects=subjects, sites=sites, runs=runs, seed=seed,
                                       minimisation_p=Decimal(str(minimisation_p)), requested_by=user)
    parameters = {"method": method, "subjects": subjects, "sites": sites, "runs": runs, "seed": seed,
                  "minimisation_p": str(run.minimisation_p)}
    audit_event_record(action=AuditAction.OTHER, actor=user, obj=run,
                       summary=f"Randomization simulation {run.pk} started ({method}, {runs} runs of "
                               f"{subjects} subjects over {sites} sites, seed {seed})",
                       detail={"event": "simulation_started", **parameters})

    def _dispatch():
        from randomization.tasks import simulate_randomization

        simulate_randomization.delay(run.pk)

    transaction.on_commit(_dispatch, robust=True)
    return run


def simulation_execute(*, run_id: int, task_id: str = "") -> str:
    """Compute a simulation, reporting progress (0–100 %) on its row; returns the final status.

    Safe to run twice: a finished run is left alone; a run whose worker died is computed again
    from the start (the seed makes the result the same)."""
    claimed = SimulationRun.objects.filter(
        pk=run_id, status__in=[SimulationStatus.QUEUED, SimulationStatus.RUNNING],
    ).update(status=SimulationStatus.RUNNING, started_at=timezone.now(), progress=0, task_id=task_id[:64])
    run = SimulationRun.objects.get(pk=run_id)
    if not claimed:
        return run.status
    methods = run.methods
    shown = [0]

    def report(share: float) -> None:
        percent = min(99, int(100 * share))  # 100 % only with the result
        if percent > shown[0]:
            shown[0] = percent
            SimulationRun.objects.filter(pk=run_id, status=SimulationStatus.RUNNING).update(progress=percent)

    results = {}
    try:
        for i, method in enumerate(methods):
            result = simulation.simulate(
                method, run.subjects, run.sites, run.runs, run.seed, float(run.minimisation_p),
                progress=lambda done, i=i: report((i + done / run.runs) / len(methods)))
            results[method] = simulation.summarize(result)
    except Exception as exc:  # a failure is shown on the page, never a run stuck at "running"
        logger.exception("simulation %s failed", run_id)
        SimulationRun.objects.filter(pk=run_id).update(status=SimulationStatus.FAILED, error=str(exc)[:2000],
                                                       finished_at=timezone.now())
        return SimulationStatus.FAILED
    SimulationRun.objects.filter(pk=run_id, status=SimulationStatus.RUNNING).update(
        status=SimulationStatus.DONE, progress=100, result=results, finished_at=timezone.now())
    return SimulationStatus.DONE
