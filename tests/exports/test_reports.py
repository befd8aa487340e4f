"""Reports: CONSORT from live data, enrollment, visit compliance, missing data, DSMB."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exports import reports

pytestmark = pytest.mark.django_db


def test_consort_counts_equal_the_screening_log_and_the_allocations(study, personas):
    from eligibility.models import Screening
    from randomization.models import Allocation

    c = reports.consort(personas["statistician"])
    screenings = Screening.objects.all()
    assert c["screened"] == screenings.count() == 12
    assert c["excluded_total"] == screenings.exclude(outcome__in=["open", "randomized"]).count() == 4
    assert {e["code"]: e["n"] for e in c["excluded"]} == {"ineligible": 2, "consent_refused": 2}
    assert ("IN1", 2) in c["failed_criteria"]  # the two 17-year-olds
    assert c["in_progress"] == 2
    assert c["all"]["randomized"] == Allocation.objects.count() == c["randomized_screenings"] == 6
    assert c["shows_arms"]
    for arm in c["arms"]:
        assert arm["randomized"] == Allocation.objects.filter(arm=arm["code"]).count()
    assert sum(a["randomized"] for a in c["arms"]) == 6
    # Lost / withdrawn / analysed follow the subjects' status and the day-90 outcome.
    assert (c["all"]["withdrawn"], c["all"]["lost"], c["all"]["analysed"]) == (1, 1, 2)
    arm_of = {a.subject.number: a.arm for a in study["allocations"]}
    by_arm = {a["code"]: a for a in c["arms"]}
    assert by_arm[arm_of["001-0003"]]["withdrawn"] == 1
    assert by_arm[arm_of["002-0002"]]["lost"] == 1


def test_consort_for_blinded_viewers_has_no_numbers_per_arm(study, personas, client_for):
    c = reports.consort(personas["datamanager"])
    assert not c["shows_arms"] and c["arms"] == []
    assert c["all"]["randomized"] == 6
    page = client_for("datamanager").get("/exports/reports/consort/").content.decode()
    assert 'data-testid="consort-screened"' in page
    for marker in ("consort-arm-", "Stenting", "Continued thrombectomy"):
        assert marker not in page


def test_consort_page_for_the_statistician_draws_both_arms(study, client_for):
    page = client_for("statistician").get("/exports/reports/consort/").content.decode()
    assert 'data-testid="consort-arm-STENTING"' in page
    assert 'data-testid="consort-arm-CONTINUED_MT"' in page


def test_monitor_consort_counts_only_the_monitors_site(study, personas):
    c = reports.consort(personas["monitor"])
    assert c["screened"] == 6 and c["all"]["randomized"] == 3


def test_enrollment_by_site_against_target(study, personas, client_for):
    e = reports.enrollment(personas["datamanager"])
    by_site = {s["code"]: s for s in e["sites"]}
    assert by_site["001"]["randomized"] == 3 and by_site["001"]["target"] == 120
    assert by_site["001"]["screened"] == 6 and by_site["003"]["randomized"] == 0
    assert by_site["001"]["percent"] == round(100 * 3 / 120)
    assert e["over_time"][-1]["cumulative"] == 6
    page = client_for("datamanager").get("/exports/reports/").content.decode()
    assert "vendor/chartjs/chart.umd.min.js" in page and 'id="enrollment-data"' in page


def test_visit_compliance_classifies_within_early_missed_and_not_expected(study, personas):
    s1 = study["subjects"][0]
    c = {v["code"]: v for v in reports.visit_compliance(personas["datamanager"])["visits"]}
    # Day 90 entered on day 0 is early; the dead and withdrawn are no longer expected.
    assert c["V5"]["early"] == 1
    assert c["V5"]["not_expected"] == 3  # died, withdrew, lost (all on day 0)
    assert c["V5"]["pending"] == 2
    with time_machine.travel(s1.randomized_at + dt.timedelta(days=100)):
        later = {v["code"]: v for v in reports.visit_compliance(personas["datamanager"])["visits"]}
    assert later["V5"]["missed"] == 2 and later["V5"]["pending"] == 0
    # No 24-hour form anywhere: missed for the three still on study, not expected for the
    # three who left on day 0; the 48-hour form entered on day 0 counts as early.
    assert (later["V2"]["missed"], later["V2"]["not_expected"]) == (3, 3)
    assert later["V3"]["early"] == 1


def test_visit_compliance_window_boundaries(study):
    """Day windows are inclusive local calendar days 83–97; hour windows are [opens, closes)."""
    from followup.schedule import visit_windows

    subject = study["subjects"][0]
    tz = subject.site.tz
    v2, _v3, _v4, v5 = visit_windows(subject.randomized_at, tz)
    from django.utils import timezone as djtz

    day0 = djtz.localtime(subject.randomized_at, tz).date()
    kw = {"now": djtz.now(), "tz": tz}
    assert reports.classify(v5, day0 + dt.timedelta(days=83), **kw) == "within"
    assert reports.classify(v5, day0 + dt.timedelta(days=97), **kw) == "within"
    assert reports.classify(v5, day0 + dt.timedelta(days=82), **kw) == "early"
    assert reports.classify(v5, day0 + dt.timedelta(days=98), **kw) == "late"
    assert reports.classify(v2, v2.opens, **kw) == "within"
    assert reports.classify(v2, v2.closes, **kw) == "late"
    assert reports.classify(v2, v2.opens - dt.timedelta(seconds=1), **kw) == "early"
    assert reports.classify(v2, None, now=v2.closes, tz=tz) == "missed"
    assert reports.classify(v2, None, now=v2.closes - dt.timedelta(seconds=1), tz=tz) == "pending"


def test_missing_data_counts_empty_fields_per_form(study, personas, client_for):
    forms = {f["code"]: f for f in reports.missing_data(personas["datamanager"])}
    screening = forms["SCREENING"]
    assert screening["rows"] == 12
    fields = {x["name"]: x for x in screening["fields"]}
    assert fields["pc_aspects"]["missing"] == 12  # all anterior circulation
    assert fields["age_years"]["missing"] == 0
    assert fields["closed_reason_text"]["missing"] == 10  # only the two refusals have text
    assert "V1_PROCEDURE" not in forms  # reveals the arm: not for a blinded viewer
    assert client_for("datamanager").get("/exports/reports/missing/").status_code == 200


def test_dsmb_report_gives_deaths_and_sich_by_arm_to_the_statistician(study, personas, client_for):
    d = reports.dsmb(personas["statistician"])
    arm_of = {a.subject.number: a.arm for a in study["allocations"]}
    groups = {g["code"]: g for g in d["groups"]}
    assert sum(g["n"] for g in d["groups"]) == 6
    assert groups[arm_of["001-0002"]]["deaths"] == 1
    assert sum(g["deaths"] for g in d["groups"]) == 1
    assert d["sich_available"]
    assert groups[arm_of["002-0001"]]["sich_heidelberg"] == 1
    client = client_for("statistician")
    assert client.get("/exports/reports/dsmb/").status_code == 200
    pdf = client.get("/exports/reports/dsmb/?format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


@pytest.mark.parametrize("username", ["datamanager", "monitor", "admin", "coord001", "assessor001"])
def test_dsmb_report_is_for_the_statistician_only(username, study, client_for):
    client = client_for(username)
    assert client.get("/exports/reports/dsmb/").status_code == 403
    assert client.get("/exports/reports/dsmb/?format=pdf").status_code == 403


def test_assessor_cannot_open_reports_or_exports(study, client_for):
    client = client_for("assessor001")
    for url in ("/exports/reports/", "/exports/reports/consort/", "/exports/center/",
                "/exports/dictionary/", "/exports/reports/compliance/"):
        assert client.get(url).status_code == 403, url


def test_report_pages_run_a_fixed_number_of_queries(study, personas, client_for):
    from randomization.services import subject_randomize
    from tests.factories import make_confirmed_screening

    client = client_for("statistician")
    urls = ["/exports/reports/", "/exports/reports/consort/", "/exports/reports/missing/",
            "/exports/reports/compliance/", "/exports/reports/queries/", "/exports/reports/dsmb/"]

    def counts():
        out = {}
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200, url
            out[url] = len(ctx.captured_queries)
        return out

    before = counts()
    for _ in range(4):
        s = make_confirmed_screening(site=study["subjects"][0].site, coordinator=personas["coord001"],
                                     investigator=personas["inv001"])
        subject_randomize(screening=s, user=personas["coord001"], notify=False)
    assert counts() == before


def test_query_metrics_count_unresolved_queries_by_form_site_and_age(study, personas, client_for):
    from datamanagement.models import Query
    from datamanagement.services import query_answer, query_close, query_open

    dm = personas["datamanager"]
    s001 = next(s for s in study["screenings"] if s.site.code == "001")
    s002 = next(s for s in study["screenings"] if s.site.code == "002")
    first = query_open(user=dm, instance=s001, field_name="age_years", text="Please check the age.")
    query_open(user=dm, instance=s002, field_name="platelets", text="Source document?")
    closed = query_open(user=dm, instance=s002, field_name="inr", text="INR unit?")
    query_answer(user=personas["coord001"], query=first, text="Checked: correct.")
    query_close(user=dm, query=closed, text="OK")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=10)):
        q = reports.query_metrics(dm)
    unresolved = Query.objects.filter(status__in=["open", "answered"]).count()
    assert q["available"] and q["open_total"] == unresolved
    assert q["by_status"]["answered"] == 1 and q["by_status"]["closed"] >= 1
    assert q["aging"]["8–30 days"] == unresolved
    by_site = {r["site__code"]: r for r in q["per_site"]}
    assert by_site["002"]["open"] == Query.objects.filter(site__code="002", status="open").count()
    assert {r["crf_code"] for r in q["per_form"]} >= {"SCREENING"}
    monitor = reports.query_metrics(personas["monitor"])
    assert {r["site__code"] for r in monitor["per_site"]} == {"001"}
    assert client_for("datamanager").get("/exports/reports/queries/").status_code == 200


ARM_TEXTS = ("STENTING", "CONTINUED_MT", "Stenting or angioplasty", "Continued thrombectomy")


@pytest.mark.parametrize("username", ["datamanager", "admin"])
def test_blinded_users_crawling_every_export_and_report_page_never_see_the_arm(username, study, client_for, run_export, personas):
    export = run_export(personas[username], ["csv"])
    client = client_for(username)
    urls = ["/exports/center/", "/exports/dictionary/", "/exports/reports/", "/exports/reports/consort/",
            "/exports/reports/compliance/", "/exports/reports/queries/", "/exports/reports/missing/",
            "/exports/reports/dsmb/", "/exports/reports/dsmb/?format=pdf",
            f"/exports/center/{export.pk}/status/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 403), url
        body = response.content.decode(errors="replace")
        for text in ARM_TEXTS:
            assert text not in body, f"{text} on {url}"
