"""A data manager runs an export in the browser, watches the progress bar move (htmx polling)
and downloads the ZIP."""

import threading
import time
import zipfile

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def background_exports(monkeypatch, settings, tmp_path):
    """Run the export task in a thread (as a worker would), held at 20 % until the test has
    seen the progress bar part-way — so the test watches a real intermediate state instead
    of racing a fast export."""
    from django.db import connection

    from exports import services, tasks

    settings.EDC_EXPORT_DIR = tmp_path / "exports"
    gate = threading.Event()
    real_progress = services.export_progress

    def held_progress(*, export, fraction, step):
        real_progress(export=export, fraction=fraction, step=step)
        if fraction >= 0.2:
            gate.wait(timeout=60)

    def run(export_id):
        try:
            services.export_run(export_id=export_id)
        finally:
            connection.close()

    monkeypatch.setattr(services, "export_progress", held_progress)
    monkeypatch.setattr(tasks.export_run_task, "delay",
                        lambda export_id: threading.Thread(target=run, args=(export_id,), daemon=True).start())
    return gate


def test_data_manager_runs_an_export_watches_progress_and_downloads(study, login_page, background_exports, tmp_path):
    page = login_page("datamanager", viewport=(1024, 768))
    page.goto(f"{page.live_url}/exports/center/")
    page.check("input[name=formats][value=csv]")
    page.check("input[name=formats][value=dta]")
    page.click("[data-testid=export-start]")
    page.wait_for_url("**/exports/center/?started=*")

    # The bar is polled by htmx and shows the running export part-way.
    page.wait_for_selector("[data-testid=export-status][data-status=running]")
    # Polled from Python: page.wait_for_function evaluates a string, which the CSP forbids.
    deadline = time.monotonic() + 30
    seen = 0
    while time.monotonic() < deadline:
        value = page.get_attribute("[data-testid=export-status] .progress", "aria-valuenow")
        seen = int(value or 0)
        if 20 <= seen < 100:
            break
        page.wait_for_timeout(100)
    assert 20 <= seen < 100
    assert page.locator("[data-testid=export-download]").count() == 0
    page.screenshot(path="/tmp/exports-progress.png", full_page=True)

    background_exports.set()
    page.wait_for_selector("[data-testid=export-download]", timeout=60000)
    assert page.get_attribute("[data-testid=export-status] .progress", "aria-valuenow") == "100"
    page.screenshot(path="/tmp/exports-done.png", full_page=True)

    with page.expect_download() as info:
        page.click("[data-testid=export-download]")
    target = tmp_path / "download.zip"
    info.value.save_as(target)
    names = zipfile.ZipFile(target).namelist()
    assert "csv/screening.csv" in names and "dta/analysis.dta" in names and "README.txt" in names


def test_statistician_sees_enrollment_chart_consort_and_dsmb(study, login_page):
    page = login_page("statistician", viewport=(1024, 768))
    page.goto(f"{page.live_url}/exports/reports/")
    # Chart.js styles each canvas it draws a chart on (box-sizing); the CSP forbids the string
    # evaluation of page.wait_for_function.
    page.wait_for_selector("#by-site[style*='box-sizing']")
    page.wait_for_selector("#over-time[style*='box-sizing']")
    assert page.inner_text("[data-testid=total-randomized]") == "6"
    page.screenshot(path="/tmp/exports-enrollment.png", full_page=True)
    page.goto(f"{page.live_url}/exports/reports/consort/")
    assert page.inner_text("[data-testid=consort-screened] .n") == "12"
    assert page.locator("[data-testid^=consort-arm-]").count() == 2
    page.screenshot(path="/tmp/exports-consort.png", full_page=True)
    page.goto(f"{page.live_url}/exports/reports/dsmb/")
    assert page.locator("[data-testid=dsmb-table] tbody tr").count() == 2
    page.screenshot(path="/tmp/exports-dsmb.png", full_page=True)
