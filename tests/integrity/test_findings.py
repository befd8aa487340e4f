"""Each finding of issue 17 as a test that failed before the fix (one registry, one write
path, bounds on every value)."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from core.exceptions import HardCheckFailed, QueryClosed
from core.models import SubjectStatus
from datamanagement import services as dm
from datamanagement.models import Query, QueryStatus
from followup import services as fu
from followup.models import Day90, Procedure, Visit24h
from tests.integrity.conftest import nihss

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def _day90_data(subject, **extra):
    assessed = timezone.localtime(subject.randomized_at, subject.site.tz).date() + timedelta(days=90)
    return {"assessed_on": assessed, "mode": "in_person", "respondent": "patient", "blinded_attested": True,
            **extra}


# --- Day-90 mRS 6 -----------------------------------------------------------------------------

def test_day90_mrs_6_without_a_date_of_death_is_refused_naming_the_field(make_subject, personas):
    subject = make_subject()
    with pytest.raises(HardCheckFailed) as exc:
        fu.day90_save(subject=subject, user=personas["assessor001"], data=_day90_data(subject, mrs=6), version=None)
    assert "death_on" in exc.value.errors and "date of death" in exc.value.errors["death_on"]
    assert not Day90.objects.filter(subject=subject).exists()


def test_day90_mrs_6_with_its_date_records_the_death_and_queries_the_death_form(make_subject, personas):
    subject = make_subject()
    died = timezone.localtime(subject.randomized_at, subject.site.tz).date() + timedelta(days=60)
    fu.day90_save(subject=subject, user=personas["assessor001"],
                  data=_day90_data(subject, mrs=6, death_on=died), version=None)
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.DEAD
    query = Query.objects.get(crf_code="V5_DAY90", check_code="MRS6_NO_DEATH_RECORD")
    assert query.field_name == "mrs" and "death form" in query.text


# --- Visit windows (soft) ---------------------------------------------------------------------

def test_v2_three_minutes_after_randomization_is_saved_with_a_window_query(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=1))
    row = fu.visit24h_save(subject=subject, user=personas["coord001"],
                           data={"assessed_at": subject.randomized_at + timedelta(minutes=3), **nihss()},
                           version=None)
    query = Query.objects.get(crf_code="V2_24H", object_id=row.pk, check_code="VISIT_WINDOW")
    assert query.field_name == "assessed_at" and "T0+18 h … T0+30 h" in query.text


def test_v2_inside_its_window_opens_no_window_query(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=30))
    fu.visit24h_save(subject=subject, user=personas["coord001"],
                     data={"assessed_at": subject.randomized_at + timedelta(hours=24), **nihss()}, version=None)
    assert not Query.objects.filter(crf_code="V2_24H", check_code="VISIT_WINDOW").exists()


def test_v3_and_v4_outside_their_windows_are_queried(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=8))
    t0 = subject.randomized_at
    fu.visit48h_save(subject=subject, user=personas["coord001"],
                     data={"imaging_modality": "ct", "imaging_at": t0 + timedelta(minutes=3), "new_ich": False},
                     version=None)
    fu.visit7d_save(subject=subject, user=personas["coord001"],
                    data={"assessed_on": timezone.localtime(t0, subject.site.tz).date(), **nihss()}, version=None)
    assert Query.objects.filter(crf_code="V3_48H", check_code="VISIT_WINDOW", field_name="imaging_at").exists()
    v4 = Query.objects.get(crf_code="V4_DAY7", check_code="VISIT_WINDOW")
    assert "study day 0" in v4.text and "day 6–8" in v4.text


# --- NIHSS UN with a score --------------------------------------------------------------------

def test_nihss_item_marked_un_and_scored_is_saved_and_queried_on_every_path(make_subject, personas):
    """Soft (issue 17): UN beside a score is saved, the total counts UN as 0, and a query asks
    the site to confirm UN or keep the score — on entry, correction and import alike."""
    subject = make_subject(timezone.now() - timedelta(hours=25))
    coord = personas["coord001"]
    data = {**nihss(), "nihss_i5a": 2, "nihss_i5a_un": True, "nihss_un_explanation": "amputation"}
    row = fu.visit24h_save(subject=subject, user=coord, data=data, version=None)
    assert row.nihss_i5a == 2 and row.nihss_total == nihss_total_without("5a")
    q = Query.objects.get(crf_code="V2_24H", object_id=row.pk, check_code="NIHSS_UN")
    assert q.field_name == "nihss_i5a" and "marked UN and also scored 2" in q.text and q.status == "open"
    # the correction path runs the same soft check (a second item scored beside its UN)
    row = fu.visit24h_save(subject=subject, user=coord, version=row.version, reason="5b untestable",
                           data={**data, "nihss_i5b": None, "nihss_i5b_un": True})
    row = dm.crf_field_correct(user=coord, instance=row, field_name="nihss_i5b", value="3", reason="rescored")
    assert Visit24h.objects.get(pk=row.pk).nihss_i5b == 3
    assert Query.objects.filter(object_id=row.pk, field_name="nihss_i5b", check_code="NIHSS_UN").exists()
    # the import path too: the score removed (UN confirmed), the query is noted as resolved
    dm.crf_values_update(user=coord, instance=row, values={"nihss_i5a": None}, reason="UN confirmed")
    assert q.messages.filter(kind="comment", text__contains="no longer fails").exists()


def test_nihss_un_without_its_explanation_is_still_refused(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=25))
    data = {**nihss(), "nihss_i5a": None, "nihss_i5a_un": True, "nihss_un_explanation": ""}
    with pytest.raises(HardCheckFailed) as exc:
        fu.visit24h_save(subject=subject, user=personas["coord001"], data=data, version=None)
    assert "nihss_un_explanation" in exc.value.errors


def nihss_total_without(code: str) -> int:
    """The total of nihss() with one item counted as UN (0)."""
    return sum(v for k, v in nihss().items() if k != f"nihss_i{code}")


# --- Year-1 dates and future dates ------------------------------------------------------------

@pytest.mark.parametrize("field", ["last_known_well", "arterial_puncture_at", "consent_at"])
def test_a_year_one_screening_time_is_refused_naming_field_and_rule(personas, sites, field):
    from eligibility.models import Screening
    from tests.factories import make_screening

    with pytest.raises(HardCheckFailed) as exc:
        make_screening(site=sites["001"], coordinator=personas["coord001"],
                       **{field: dt.datetime(1, 1, 1, 8, 0, tzinfo=UTC)})
    assert field in exc.value.errors and "1900-01-01" in exc.value.errors[field]
    assert not Screening.objects.exists()


def test_a_year_one_time_typed_on_the_screening_form_is_refused_and_pages_still_load(client_for, sites):
    from tests.eligibility.test_views import post_data
    from tests.factories import eligible_screening_data

    client = client_for("coord001")
    data = post_data(sites["001"], eligible_screening_data())
    data["last_known_well"] = "0001-01-01T00:00"
    response = client.post("/screening/new/", data)
    assert response.status_code == 400
    assert "1900-01-01" in response.content.decode()
    for url in ("/screening/list/", "/screening/log/", "/data/forms/"):
        assert client_for("datamanager" if url.startswith("/data") else "coord001").get(url).status_code == 200


def test_a_procedure_time_in_year_one_or_9999_is_refused(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=2))
    for bad in (dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, tzinfo=UTC)):
        with pytest.raises(HardCheckFailed) as exc:
            fu.procedure_save(subject=subject, user=personas["coord001"], passes=[], version=None,
                              data={"arterial_puncture_at": bad, "final_etici": "2b67"})
        assert "arterial_puncture_at" in exc.value.errors
    assert not Procedure.objects.filter(subject=subject).exists()


# --- Corrections through a query --------------------------------------------------------------

def _procedure(subject, personas):
    t0 = subject.randomized_at
    return fu.procedure_save(subject=subject, user=personas["coord001"], passes=[], version=None,
                             data={"first_reperfusion_at": t0 + timedelta(minutes=10),
                                   "procedure_end_at": t0 + timedelta(minutes=40), "final_etici": "2b67"})


def test_a_v1_correction_through_a_query_runs_the_procedures_hard_checks(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=3))
    v1 = _procedure(subject, personas)
    query = dm.query_open(user=personas["monitor"], instance=v1, field_name="procedure_end_at", text="End time?")
    local = timezone.localtime(subject.randomized_at - timedelta(hours=1), subject.site.tz)
    with pytest.raises(HardCheckFailed) as exc:
        dm.crf_field_correct(user=personas["coord001"], instance=v1, field_name="procedure_end_at",
                             value=f"{local:%Y-%m-%d %H:%M}", reason="typo", query=query)
    assert "procedure_end_at" in exc.value.errors and "must follow" in exc.value.errors["procedure_end_at"]
    future = timezone.localtime(timezone.now() + timedelta(days=2), subject.site.tz)
    with pytest.raises(HardCheckFailed):
        dm.crf_field_correct(user=personas["coord001"], instance=v1, field_name="procedure_end_at",
                             value=f"{future:%Y-%m-%d %H:%M}", reason="typo", query=query)
    v1.refresh_from_db()
    assert v1.procedure_end_at == subject.randomized_at + timedelta(minutes=40)
    assert not query.messages.filter(kind="correction").exists()


def test_a_correction_on_a_closed_query_is_refused(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=3))
    v1 = _procedure(subject, personas)
    query = dm.query_open(user=personas["monitor"], instance=v1, field_name="final_etici", text="eTICI?")
    dm.query_close(user=personas["monitor"], query=query, text="fine")
    with pytest.raises(QueryClosed):
        dm.crf_field_correct(user=personas["coord001"], instance=v1, field_name="final_etici", value="3",
                             reason="late", query=query)
    v1.refresh_from_db()
    assert v1.final_etici == "2b67"


def test_a_correction_and_its_note_commit_together_or_not_at_all(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=3))
    v1 = _procedure(subject, personas)
    query = dm.query_open(user=personas["monitor"], instance=v1, field_name="final_etici", text="eTICI?")
    with mock.patch("datamanagement.services.corrections._note_correction", side_effect=RuntimeError("crash")), \
            pytest.raises(RuntimeError):
        dm.crf_field_correct(user=personas["coord001"], instance=v1, field_name="final_etici", value="3",
                             reason="source says 3", query=query)
    v1.refresh_from_db()
    assert v1.final_etici == "2b67" and v1.version == 1  # the data change went with the failed note
    dm.crf_field_correct(user=personas["coord001"], instance=v1, field_name="final_etici", value="3",
                         reason="source says 3", query=query)
    v1.refresh_from_db()
    query.refresh_from_db()
    assert v1.final_etici == "3" and query.status == QueryStatus.ANSWERED
    assert query.messages.filter(kind="correction", text__contains="source says 3").exists()


# --- NUL bytes and malformed hidden numbers ---------------------------------------------------

def test_a_nul_byte_anywhere_in_a_request_is_a_400_page_naming_the_field(make_subject, personas, client_for):
    subject = make_subject(timezone.now() - timedelta(hours=3))
    v1 = _procedure(subject, personas)
    monitor = client_for("monitor")
    response = monitor.post(f"/data/crf/V1_PROCEDURE/{v1.pk}/query/", {"field_name": "final_etici", "text": "a\x00b"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "text" in page and "NUL" in page
    assert not Query.objects.exists()
    assert client_for("coord001").get("/subjects/", {"q": "00\x001"}).status_code == 400
    assert client_for("coord001").get("/subjects/001-%00/").status_code == 400
    reason = monitor.post("/data/locks/", {"action": "lock_database", "reason": "final\x07"})
    assert reason.status_code == 400 and "U+0007" in reason.content.decode()


def test_malformed_hidden_version_and_lock_numbers_are_a_400_page(make_subject, personas, client_for, sites):
    from tests.eligibility.test_views import post_data
    from tests.factories import eligible_screening_data, make_screening

    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    coord = client_for("coord001")
    response = coord.post(f"/screening/{screening.pk}/edit/",
                          post_data(sites["001"], eligible_screening_data(age_years=51), version="x1", reason="r"))
    assert response.status_code == 400 and "version" in response.content.decode()
    dmgr = client_for("datamanager")
    response = dmgr.post("/data/locks/", {"action": "unlock", "lock": "1; DROP", "reason": "r"})
    assert response.status_code == 400 and "lock" in response.content.decode()
    subject = make_subject(timezone.now() - timedelta(hours=25))
    response = coord.post(f"/subjects/{subject.number}/form/V2/", {"form_version": "１", "nihss_i1a": "1"})
    assert response.status_code == 400 and "form_version" in response.content.decode()


# --- The e-mail claim's lease -----------------------------------------------------------------

def test_the_email_lease_is_measured_from_the_claim_not_from_the_notice(personas):
    from core.models import EmailState, Notification
    from core.services import notification_email_claim, notification_emails_expire

    user = personas["coord001"]
    note = Notification.objects.create(user=user, title="t", created_at=timezone.now() - timedelta(hours=3),
                                       email_state=EmailState.QUEUED)
    notification_email_claim(ids=[note.pk])  # waited three hours in the queue, claimed now
    assert notification_emails_expire(now=timezone.now(), lease_seconds=900) == 0
    note.refresh_from_db()
    assert note.email_state == EmailState.SENDING
    assert notification_emails_expire(now=timezone.now() + timedelta(seconds=901), lease_seconds=900) == 1
    note.refresh_from_db()
    assert note.email_state == EmailState.FAILED
