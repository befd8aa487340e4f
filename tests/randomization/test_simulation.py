"""The statistician's simulation page: parameters validated with messages naming the field,
start audited, the task's progress and result stored, only the statistician may see it."""

import json

import pytest

from randomization import charts, simulation

pytestmark = pytest.mark.django_db

OTHERS = ["coord001", "inv001", "assessor001", "coord002", "inv002", "monitor", "datamanager", "admin"]
GOOD = {"method": "both", "subjects": "60", "sites": "4", "runs": "20", "seed": "7", "minimisation_p": "0.80"}


def test_simulation_reports_progress_up_to_every_run_and_summarizes_the_imbalance():
    seen = []
    result = simulation.simulate("blocks", subjects=40, sites=3, runs=250, seed=3, progress=seen.append)
    assert seen[0] == 0 and seen[-1] == 250 and seen == sorted(seen)
    assert 50 <= len(seen) <= 102  # about a hundred reports, not one per run
    summary = simulation.summarize(result)
    assert summary["overall"]["n"] == 250 and summary["overall"]["max"] == max(result.overall)
    assert summary["per_stratum"]["n"] == len(result.per_stratum)
    shares = [h["share"] for h in summary["per_site"]["histogram"]]
    assert len(shares) == simulation.HISTOGRAM_CAP + 1 and abs(sum(shares) - 1) < 1e-3
    # Permuted blocks of 2 and 4 within each stratum: never more than 2 apart per stratum.
    assert summary["per_stratum"]["max"] <= 2


def test_chart_bars_are_as_tall_as_their_share():
    hist = [{"value": v, "share": s} for v, s in enumerate([0.5, 0.25, 0.25] + [0.0] * 8)]
    chart = charts.histogram([("blocks", "Blocks", hist)], cap=10)
    bars = chart["bars"]
    assert len(bars) == 11
    assert bars[0]["h"] == pytest.approx(2 * bars[1]["h"], abs=0.2) and bars[3]["h"] == 0
    assert bars[0]["y"] + bars[0]["h"] == pytest.approx(chart["bottom"], abs=0.2)
    assert chart["ticks"][-1]["text"] == "50%"


@pytest.mark.parametrize("field, value, words", [
    ("subjects", "5", ("Subjects per simulated trial", "from 20 to 5000")),
    ("sites", "0", ("Sites", "from 1 to 300")),
    ("runs", "abc", ("Simulated trials", "from 10 to 10000")),
    ("seed", "-1", ("Seed", "whole number")),
    ("minimisation_p", "0.3", ("Minimisation random element p", "0.50 to 1.00")),
    ("minimisation_p", "0.805", ("Minimisation random element p", "two decimals")),
    ("method", "coin", ("Method: choose one of the methods listed; coin is not one.",)),
])
def test_bad_parameters_are_refused_naming_the_field_and_rule(client_for, field, value, words):
    from randomization.models import SimulationRun

    response = client_for("statistician").post("/randomization/simulations/", {**GOOD, field: value})
    assert response.status_code == 400
    body = response.content.decode()
    for w in words:
        assert w in body, (field, w)
    assert not SimulationRun.objects.exists()


def test_too_much_work_is_refused_with_the_product_named(client_for):
    from randomization.models import SimulationRun

    response = client_for("statistician").post("/randomization/simulations/",
                                               {**GOOD, "subjects": "5000", "runs": "1000"})
    assert response.status_code == 400
    assert "subjects × simulated trials × 2 methods may be at most 3,000,000" in response.content.decode()
    assert not SimulationRun.objects.exists()


def test_statistician_starts_a_simulation_audited_and_sees_tables_and_charts(
        client_for, personas, django_capture_on_commit_callbacks):
    from audit.models import AuditEvent
    from randomization.models import SimulationRun, SimulationStatus

    client = client_for("statistician")
    page = client.get("/randomization/simulations/")
    assert page.status_code == 200 and "Subjects per simulated trial (patients)" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the task runs eagerly at commit
        response = client.post("/randomization/simulations/", GOOD)
    run = SimulationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/randomization/simulations/{run.pk}/"
    assert run.status == SimulationStatus.DONE and run.progress == 100 and run.requested_by == personas["statistician"]
    assert set(run.result) == {"blocks", "minimisation"} and run.result["blocks"]["overall"]["n"] == 20
    event = AuditEvent.objects.get(object_type="randomization.SimulationRun", object_id=str(run.pk))
    assert event.actor == personas["statistician"] and event.detail["runs"] == 20 and not event.reveals_allocation
    body = client.get(response["Location"]).content.decode()
    assert 'data-testid="balance-table-blocks"' in body and 'data-testid="balance-table-minimisation"' in body
    assert body.count('data-testid="simulation-chart"') == 3 and "<rect" in body
    assert "data-progress-poll" not in body  # finished: nothing to poll
    assert f'data-testid="max-blocks">{run.result["blocks"]["per_stratum"]["max"]}<' in body
    status = json.loads(client.get(f"/randomization/simulations/{run.pk}/status/").content)
    assert status == {"status": "done", "label": "Done", "progress": 100, "finished": True}
    listing = client.get("/randomization/simulations/").content.decode()
    assert f'href="/randomization/simulations/{run.pk}/"' in listing


def test_a_queued_simulation_page_polls_its_status_and_shows_progress(client_for, personas):
    from randomization.models import SimulationRun

    run = SimulationRun.objects.create(method="blocks", subjects=40, sites=3, runs=10, seed=1, minimisation_p="0.8",
                                       requested_by=personas["statistician"], status="running", progress=37)
    body = client_for("statistician").get(f"/randomization/simulations/{run.pk}/").content.decode()
    assert f'data-progress-poll="/randomization/simulations/{run.pk}/status/"' in body
    assert 'style="width: 37%">37%<' in body and "edc/progress.js" in body
    assert "<script>" not in body and "balance-table" not in body


def test_running_the_task_twice_computes_once_and_keeps_the_result(personas):
    from randomization.models import SimulationRun
    from randomization.services import simulation_execute

    run = SimulationRun.objects.create(method="minimisation", subjects=40, sites=3, runs=10, seed=1,
                                       minimisation_p="0.8", requested_by=personas["statistician"])
    assert simulation_execute(run_id=run.pk) == "done"
    first = SimulationRun.objects.get(pk=run.pk)
    assert simulation_execute(run_id=run.pk) == "done"
    again = SimulationRun.objects.get(pk=run.pk)
    assert again.finished_at == first.finished_at and again.result == first.result


@pytest.mark.parametrize("username", OTHERS)
def test_every_other_role_is_refused_the_simulation_and_has_no_link(username, client_for, personas):
    from randomization.models import SimulationRun

    run = SimulationRun.objects.create(method="blocks", subjects=40, sites=3, runs=10, seed=1, minimisation_p="0.8",
                                       requested_by=personas["statistician"])
    client = client_for(username)
    for url in ("/randomization/simulations/", f"/randomization/simulations/{run.pk}/",
                f"/randomization/simulations/{run.pk}/status/"):
        assert client.get(url).status_code == 403, (username, url)
    assert client.post("/randomization/simulations/", GOOD).status_code == 403
    assert SimulationRun.objects.count() == 1
    assert "/randomization/simulations/" not in client.get("/").content.decode()


def test_statistician_finds_the_simulation_from_the_allocation_lists(client_for):
    body = client_for("statistician").get("/randomization/lists/").content.decode()
    assert 'href="/randomization/simulations/"' in body


def test_parameter_errors_are_written_in_the_readers_language(client_for):
    from django.utils import translation

    client = client_for("statistician")
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    try:
        body = client.post("/randomization/simulations/", {**GOOD, "subjects": "5", "runs": "x"}).content.decode()
    finally:
        translation.activate("en")
    assert "每次模拟试验的受试者数（例）：须为 20 至 5000 之间的整数。" in body
    assert "模拟试验次数（次）：须为 10 至 10000 之间的整数。" in body
    assert "a whole number from" not in body
