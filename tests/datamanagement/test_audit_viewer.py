"""The audit trail viewer: who, when, old → new and why, per field / form / subject / user,
CSV export; blinded users never see allocation-related entries."""

import csv
import io

import pytest

from datamanagement import audit_trail
from tests.datamanagement.conftest import update_screening

pytestmark = pytest.mark.django_db


def test_viewer_shows_old_new_reason_and_who_for_a_changed_field(screening, personas, client_for):
    update_screening(screening, user=personas["coord001"], aspects=7, reason="CT re-read by radiologist")
    body = client_for("datamanager").get("/data/audit/", {"form": "SCREENING", "field": "aspects"}).content.decode()
    assert "CT re-read by radiologist" in body and "coord001" in body
    [entry] = [e for e in audit_trail.audit_entries(user=personas["datamanager"], form="SCREENING", field="aspects")
               if e.kind == "change"]
    assert (entry.old, entry.new, entry.reason, entry.username) == (8, 7, "CT re-read by radiologist", "coord001")
    assert entry.field_label == "ASPECTS" and entry.object_label == screening.number


def test_each_change_keeps_its_own_reason_within_one_request(screening, personas):
    import pghistory

    with pghistory.context(user=personas["coord001"].pk, username="coord001"):  # one request
        update_screening(screening, user=personas["coord001"], aspects=7, reason="first reason")
        update_screening(screening, user=personas["coord001"], age_years=65, reason="second reason")
    entries = {e.field: e.reason for e in audit_trail.audit_entries(user=personas["datamanager"], form="SCREENING")
               if e.kind == "change"}
    assert entries["aspects"] == "first reason" and entries["age_years"] == "second reason"


def test_filters_by_user_subject_and_form(randomized, personas):
    screening, subject = randomized()
    update_screening(screening, user=personas["inv001"], aspects=7, reason="by the investigator")
    by_inv = audit_trail.audit_entries(user=personas["datamanager"], username="inv001")
    assert any(e.field == "aspects" for e in by_inv)
    assert all(e.username == "inv001" for e in by_inv)
    of_subject = audit_trail.audit_entries(user=personas["datamanager"], subject=subject.number)
    assert any(e.model == "core.Subject" for e in of_subject)
    assert audit_trail.audit_entries(user=personas["datamanager"], subject="999-9999") == []


def test_csv_export_has_old_new_and_reason(screening, personas, client_for):
    update_screening(screening, user=personas["coord001"], age_years=65, reason="typo in age")
    response = client_for("datamanager").get("/data/audit/", {"form": "SCREENING", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    [row] = [r for r in rows if r["field"] == "age_years"]
    assert (row["old_value"], row["new_value"], row["reason"], row["user"]) == ("64", "65", "typo in age", "coord001")
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="export", actor=personas["datamanager"]).exists()


def test_blinded_users_never_see_allocation_entries(randomized, personas, client_for):
    from audit.models import AuditEvent

    randomized()
    assert AuditEvent.objects.filter(reveals_allocation=True).exists()
    allocation_summaries = set(AuditEvent.objects.filter(reveals_allocation=True).values_list("summary", flat=True))
    for who in ("datamanager", "admin"):  # blinded roles with the viewer
        entries = audit_trail.audit_entries(user=personas[who])
        assert not {e.summary for e in entries} & allocation_summaries
        assert not any(e.model.startswith("randomization.") for e in entries)
        client = client_for(who)
        body = client.get("/data/audit/").content.decode()
        for arm in ("STENTING", "CONTINUED_MT"):
            assert arm not in body
        csv_body = client.get("/data/audit/", {"format": "csv"}).content.decode()
        assert "STENTING" not in csv_body and "CONTINUED_MT" not in csv_body
    # the unblinded monitor does see the randomization event of its site
    monitor_entries = audit_trail.audit_entries(user=personas["monitor"])
    assert {e.summary for e in monitor_entries} & allocation_summaries


def test_the_blinded_assessor_has_no_audit_viewer(client_for):
    assert client_for("assessor001").get("/data/audit/").status_code == 403


def test_site_scoped_monitor_sees_only_its_sites_changes(make_screening, personas):
    s2 = make_screening(site="002")
    update_screening(s2, user=personas["coord002"], aspects=7, reason="site 2 change")
    reasons = {e.reason for e in audit_trail.audit_entries(user=personas["monitor"], form="SCREENING")}
    assert "site 2 change" not in reasons
    assert "site 2 change" in {e.reason for e in audit_trail.audit_entries(user=personas["datamanager"], form="SCREENING")}


def test_subject_filter_includes_the_screening_form_of_the_subject(randomized, personas):
    screening, subject = randomized()
    update_screening(screening, user=personas["coord001"], aspects=7, reason="after randomization")
    entries = audit_trail.audit_entries(user=personas["datamanager"], subject=subject.number)
    assert any(e.field == "aspects" and e.reason == "after randomization" for e in entries)


def test_edit_checks_page_lists_hard_and_soft_checks_of_each_form(client_for):
    body = client_for("monitor").get("/data/editchecks/").content.decode()
    assert 'data-testid="checks-SCREENING"' in body and 'data-testid="checks-V5_DAY90"' in body
    assert "DAY90_WINDOW" in body and "NIHSS_ITEM_RANGE" in body and "protocol deviation" in body
    assert client_for("coord001").get("/data/editchecks/").status_code in (200, 403)
