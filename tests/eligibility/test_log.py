"""The screening log: scope, filters, CONSORT counts by failed criterion, CSV, query count."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from eligibility.models import Screening
from eligibility.services import screening_close
from tests.factories import make_confirmed_screening, make_screening

pytestmark = pytest.mark.django_db


def bulk(site, user, n, start=1000, **fields):
    Screening.objects.bulk_create([
        Screening(site=site, created_by=user, number=f"{site.code}-S{start + i:04d}",
                  verdict_status="ineligible", verdict_failed=["IN1", "EX3"], outcome="ineligible",
                  closed_reason_codes=["IN1", "EX3"], **fields)
        for i in range(n)
    ])


@pytest.fixture
def log_data(sites, personas):
    coord1, coord2, inv1 = personas["coord001"], personas["coord002"], personas["inv001"]
    make_confirmed_screening(site=sites["001"], coordinator=coord1, investigator=inv1)
    s = make_screening(site=sites["001"], coordinator=coord1, age_years=17, gfr="20")
    screening_close(screening=s, user=coord1, reason="ineligible")
    s = make_screening(site=sites["001"], coordinator=coord1)
    screening_close(screening=s, user=coord1, reason="consent_refused")
    make_screening(site=sites["002"], coordinator=coord2, aspects=3)


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_log_counts_by_outcome_and_failed_criterion(client_for, log_data):
    r = client_for("datamanager").get("/screening/log/")
    assert r.status_code == 200
    counts = r.context["counts"]
    assert counts.screened == 4
    assert counts.by_outcome == {"open": 2, "ineligible": 1, "consent_refused": 1}
    assert counts.by_failed_criterion == [("IN1", 1), ("IN5", 1), ("EX8", 1)]
    html = r.content.decode()
    assert "001-S0002" in html and "002-S0001" in html


def test_site_coordinator_sees_only_own_site_in_log(client_for, log_data):
    r = client_for("coord002").get("/screening/log/")
    numbers = [s.number for s in r.context["rows"]]
    assert numbers == ["002-S0001"]
    assert r.context["counts"].screened == 1
    # Asking for another site's rows by filter does not widen the scope.
    from core.models import Site

    r = client_for("coord002").get("/screening/log/", {"site": Site.objects.get(code="001").pk})
    assert [s.number for s in r.context["rows"]] == ["002-S0001"]


def test_log_filters_site_outcome_and_dates(client_for, log_data, sites):
    c = client_for("datamanager")
    r = c.get("/screening/log/", {"site": sites["001"].pk, "outcome": "ineligible"})
    assert [s.number for s in r.context["rows"]] == ["001-S0002"]
    assert r.context["counts"].by_failed_criterion == [("IN1", 1), ("EX8", 1)]
    today = timezone.localdate()
    assert c.get("/screening/log/", {"from": str(today - timedelta(days=1))}).context["counts"].screened == 4
    assert c.get("/screening/log/", {"to": str(today - timedelta(days=2))}).context["counts"].screened == 0


def test_log_csv_download_is_scoped_filtered_and_audited(client_for, log_data, sites):
    r = client_for("monitor").get("/screening/log/", {"format": "csv"})
    assert r["Content-Type"].startswith("text/csv")
    rows = _csv(r)
    assert rows[0][:5] == ["screening_number", "site", "screened_at_utc", "screened_at_local", "verdict"]
    assert sorted(row[0] for row in rows[1:]) == ["001-S0001", "001-S0002", "001-S0003"]  # monitor of 001
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number["001-S0002"][5] == "IN1 EX8" and by_number["001-S0002"][8] == "ineligible"
    assert AuditEvent.objects.filter(action="export", summary="Screening log CSV").count() == 1


def test_assessor_has_no_screening_log(client_for, log_data):
    assert client_for("assessor001").get("/screening/log/").status_code == 403


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200
    return len(ctx.captured_queries)


def test_log_and_list_query_count_does_not_grow_with_screenings(client_for, sites, personas):
    c = client_for("coord001")
    bulk(sites["001"], personas["coord001"], 3)
    small_log, small_list = _count(c, "/screening/log/"), _count(c, "/screening/list/")
    bulk(sites["001"], personas["coord001"], 300, start=2000)
    assert _count(c, "/screening/log/") == small_log
    assert _count(c, "/screening/list/") == small_list
    r = c.get("/screening/log/")
    assert r.context["counts"].screened == 303
    assert r.context["counts"].by_failed_criterion == [("IN1", 303), ("EX3", 303)]


def test_log_per_site_lines_for_all_site_roles(client_for, log_data):
    r = client_for("datamanager").get("/screening/log/")
    per_site = {row["site__code"]: row for row in r.context["per_site"]}
    assert per_site["001"]["screened"] == 3 and per_site["001"]["closed"] == 2 and per_site["001"]["open"] == 1
    assert per_site["002"]["screened"] == 1 and per_site["002"]["closed"] == 0
    assert 'data-testid="per-site"' in r.content.decode()
