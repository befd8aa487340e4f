"""Browser walk (Playwright, tablet size): a monitor raises a query, the coordinator answers
by correcting the value with a reason, the monitor closes it and marks the field verified."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_monitor_raises_coordinator_corrects_monitor_closes_and_verifies(login_page, personas, sites):
    from datamanagement.models import Query, SourceVerification
    from eligibility.models import Screening
    from tests.factories import make_screening

    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    crf_url = f"/data/crf/SCREENING/{screening.pk}/"

    monitor = login_page("monitor")
    monitor.goto(monitor.live_url + crf_url)
    monitor.select_option("#id_field_name", "aspects")
    monitor.fill("#id_text", "The CT report says ASPECTS 7, the form says 8. Please check.")
    monitor.click("button:has-text('Raise query')")
    monitor.wait_for_selector("text=opened; the site was notified")
    query = Query.objects.get()

    coord = login_page("coord001")
    coord.goto(coord.live_url + "/data/queries/")
    coord.click(f"a:has-text('Q{query.pk}')")
    coord.wait_for_selector("[data-testid=correct-form]")
    coord.screenshot(path="/tmp/dm_coordinator_query_tablet.png", full_page=True)
    coord.fill("#id_value", "7")
    coord.fill("#id_reason", "CT report re-read: ASPECTS 7")
    coord.click("button:has-text('Save correction')")
    coord.wait_for_selector("[data-testid=query-status]:has-text('Answered')")
    assert coord.inner_text("[data-testid=current-value]") == "7"
    assert "8 → 7" in coord.inner_text("[data-testid=thread]")

    monitor.goto(monitor.live_url + f"/data/queries/{query.pk}/")
    monitor.fill("#id_review", "Confirmed against the CT report.")
    monitor.click("button:has-text('Close query')")
    monitor.wait_for_selector("[data-testid=query-status]:has-text('Closed')")
    monitor.goto(monitor.live_url + crf_url)
    monitor.check("input[name=fields][value=aspects]")
    monitor.click("button:has-text('Mark selected fields verified')")
    monitor.wait_for_selector("[data-testid=sdv-aspects]")
    monitor.locator("[data-testid=sdv-aspects]").scroll_into_view_if_needed()
    monitor.screenshot(path="/tmp/dm_monitor_sdv_tablet.png", full_page=False)

    screening.refresh_from_db()
    query.refresh_from_db()
    assert screening.aspects == 7 and query.status == "closed"
    assert SourceVerification.objects.filter(object_id=screening.pk, field_name="aspects", active=True).exists()
    assert Screening.objects.get(pk=screening.pk).version > 1
