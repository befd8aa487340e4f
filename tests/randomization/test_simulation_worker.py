"""The simulation page's task on a real Celery worker and a real Redis: started from the
statistician's page, it reports its progress on the run's row while it computes, then stores
the result; in the browser the progress bar follows it to 100 % and the charts appear."""

import json

import pytest

from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
# About three seconds of work for the worker: long enough to be seen in progress.
PARAMS = {"method": "both", "subjects": "312", "sites": "30", "runs": "400", "seed": "11", "minimisation_p": "0.80"}


def test_worker_reports_progress_while_it_computes_and_stores_the_result(client_for, personas, celery_harness):
    from randomization.models import SimulationRun, SimulationStatus

    celery_harness.route_project_tasks()
    celery_harness.start_worker()
    client = client_for("statistician")
    response = client.post("/randomization/simulations/", PARAMS)
    assert response.status_code == 302
    run = SimulationRun.objects.get()
    seen = []

    def progress_seen():
        state = SimulationRun.objects.values_list("status", "progress").get(pk=run.pk)
        if not seen or seen[-1] != state:
            seen.append(state)
        return state[0] in (SimulationStatus.DONE, SimulationStatus.FAILED)

    wait_for(progress_seen, 120, "the simulation to finish")
    run.refresh_from_db()
    assert run.status == SimulationStatus.DONE, run.error
    running = [p for status, p in seen if status == SimulationStatus.RUNNING]
    assert len([p for p in running if 0 < p < 100]) >= 3, seen  # progress reported along the way
    assert running == sorted(running)
    assert seen[-1] == (SimulationStatus.DONE, 100)
    assert run.task_id and f"{run.task_id}] succeeded" in celery_harness.log_text()
    assert run.result["minimisation"]["runs"] == 400 and run.result["blocks"]["overall"]["n"] == 400
    status = json.loads(client.get(f"/randomization/simulations/{run.pk}/status/").content)
    assert status["finished"] is True and status["progress"] == 100


@pytest.mark.browser
def test_statistician_starts_a_simulation_and_sees_the_bar_reach_100_and_the_charts(
        login_page, personas, celery_harness):
    from randomization.models import SimulationRun

    celery_harness.route_project_tasks()
    celery_harness.start_worker()
    page = login_page("statistician")
    page.goto(page.live_url + "/randomization/lists/")
    page.click("[data-testid=simulations-link]")
    polled = []
    page.on("response", lambda r: polled.append(r.json()) if r.url.endswith("/status/") else None)
    for name, value in PARAMS.items():
        if name == "method":
            page.select_option("#id_method", value)
        else:
            page.fill(f"#id_{name}", value)
    page.click("[data-testid=simulation-start]")
    page.wait_for_url("**/randomization/simulations/*/")
    bar = page.locator("[data-testid=simulation-progress]")
    # The page reloads itself when the task is done; the bar then stays at 100 % and the
    # balance tables and charts are rendered below it.
    page.wait_for_selector("[data-testid=simulation-chart]", timeout=120_000)
    assert bar.inner_text() == "100%"
    assert page.locator("[data-testid=simulation-status]").get_attribute("data-status") == "done"
    assert page.locator("[data-testid=simulation-chart]").count() == 3
    assert page.locator("[data-testid=simulation-chart] rect").count() == 3 * 11 * 2  # 2 methods × 0…≥10
    assert page.locator("[data-testid=balance-table-blocks]").is_visible()
    assert page.locator("[data-testid=balance-table-minimisation]").is_visible()
    # The bar was driven by the JSON status endpoint while the worker computed.
    assert polled and polled[-1]["finished"] is True and polled[-1]["progress"] == 100
    assert any(0 < p["progress"] < 100 for p in polled), polled
    run = SimulationRun.objects.get()
    assert run.status == "done" and run.requested_by == personas["statistician"]
    page.screenshot(path="/tmp/rnd-simulation.png", full_page=True)
