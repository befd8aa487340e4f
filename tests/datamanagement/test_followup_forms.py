"""The data-management machinery on the follow-up CRFs (V1–V5), through followup.services."""

import datetime as dt
from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from datamanagement import audit_trail, selectors, services
from datamanagement.exceptions import DataLocked
from datamanagement.models import Query
from followup import services as fu
from followup.exceptions import HardCheckFailed
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _day90(subject, user, day, **extra):
    local_t0 = timezone.localtime(subject.randomized_at, subject.site.tz).date()
    data = {"assessed_on": local_t0 + timedelta(days=day), "mode": "phone", "respondent": "patient",
            "blinded_attested": True, "mrs": 2, **extra}
    row = fu.Day90.objects.filter(subject=subject).first() if hasattr(fu, "Day90") else None
    return fu.day90_save(subject=subject, user=user, data=data, version=row.version if row else None,
                         reason=extra.pop("reason", "correction") if row else "")


def test_day90_outside_window_opens_a_query_the_assessor_answers(make_subject, personas, client_for):
    subject = make_subject(timezone.now() - timedelta(days=101))
    _day90(subject, personas["assessor001"], 99)
    q = Query.objects.get(crf_code="V5_DAY90", field_name="assessed_on")
    assert q.origin == "edit_check" and "day 99" in q.text and "83–97" in q.text
    # the blinded assessor sees and answers it; site coordinators (who do not enter V5) do not
    assert q.pk in {x.pk for x in selectors.todo_for(personas["assessor001"])}
    assert q.pk not in {x.pk for x in selectors.visible_queries(personas["coord001"])}
    assessor = client_for("assessor001")
    assert f"Q{q.pk}" in assessor.get("/data/queries/").content.decode()
    services.query_answer(user=personas["assessor001"], query=q, text="Patient unreachable until day 99")
    q.refresh_from_db()
    assert q.status == "answered"


def test_day90_inside_window_opens_no_query(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=101))
    _day90(subject, personas["assessor001"], 97)
    assert not Query.objects.filter(crf_code="V5_DAY90").exists()


def test_assessor_never_sees_queries_on_other_forms(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=2))
    v2 = fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1}, version=None)
    q = services.query_open(user=personas["monitor"], instance=v2, field_name="nihss_i1a", text="1 or 2?")
    assert not selectors.visible_queries(personas["assessor001"]).filter(pk=q.pk).exists()


def test_discharge_mrs_better_than_prestroke_opens_a_query(randomized, personas):
    _, subject = randomized(prestroke_mrs=1)
    fu.visit7d_save(subject=subject, user=personas["coord001"],
                    data={"assessed_on": timezone.localdate(timezone=subject.site.tz), "mrs_discharge": 0}, version=None)
    q = Query.objects.get(crf_code="V4_DAY7", check_code="DISCHARGE_MRS_BETTER")
    assert q.field_name == "mrs_discharge" and "pre-stroke mRS (1)" in q.text


def test_follow_up_hard_check_from_the_registry_refuses_naming_the_item(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=2))
    with pytest.raises(HardCheckFailed) as excinfo:
        fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 7}, version=None)
    assert "nihss_i1a" in excinfo.value.errors


def test_procedure_form_queries_are_hidden_from_blinded_users(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=3))
    t0 = subject.randomized_at
    v1 = fu.procedure_save(subject=subject, user=personas["coord001"], passes=[], version=None,
                           data={"first_reperfusion_at": t0 + timedelta(minutes=20), "final_etici": "2b67"})
    q = services.query_open(user=personas["monitor"], instance=v1, field_name="final_etici", text="eTICI per DSA?")
    assert selectors.visible_queries(personas["monitor"]).filter(pk=q.pk).exists()
    for who in ("datamanager", "assessor001"):
        assert not selectors.visible_queries(personas[who]).filter(pk=q.pk).exists()
        assert selectors.query_counts_for(user=personas[who], instances=[v1]) == {}
    with pytest.raises(Exception):  # noqa: B017 - PermissionDenied: the blinded data manager cannot raise one
        services.query_open(user=personas["datamanager"], instance=v1, field_name="final_etici", text="?")
    # nor see the form's history in the audit trail, nor the query's action events
    dm_entries = audit_trail.audit_entries(user=personas["datamanager"])
    assert not [e for e in dm_entries if e.form.startswith("V1")]
    assert not [e for e in dm_entries if "V1_PROCEDURE" in e.summary or "eTICI per DSA" in e.reason]
    assert [e for e in audit_trail.audit_entries(user=personas["monitor"]) if e.form.startswith("V1")]


def test_locked_subject_refuses_follow_up_saves_in_service_and_database(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=2))
    v2 = fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1}, version=None)
    services.lock_subject(user=personas["datamanager"], subject=subject, reason="subject complete")
    with pytest.raises(DataLocked) as excinfo:
        fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 2}, version=v2.version,
                         reason="re-examined")
    assert "locked" in excinfo.value.errors["lock"]  # the form shows it like a hard check
    with pytest.raises(DatabaseError) as db_excinfo, transaction.atomic():
        fu.Visit24h.objects.filter(pk=v2.pk).update(nihss_i1a=3)
    assert "datamanagement_locked" in str(db_excinfo.value)
    v2.refresh_from_db()
    assert v2.nihss_i1a == 1


def test_locked_form_is_refused_over_http_with_a_message(make_subject, personas, client_for):
    subject = make_subject(timezone.now() - timedelta(days=2))
    v2 = fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1}, version=None)
    services.lock_form(user=personas["datamanager"], instance=v2)
    response = client_for("coord001").post(f"/subjects/{subject.number}/form/V2/", {
        "nihss_i1a": "2", "form_version": str(v2.version), "reason": "late change"})
    assert response.status_code in (200, 403, 422)
    assert "locked" in response.content.decode()
    v2.refresh_from_db()
    assert v2.nihss_i1a == 1


def test_visit_signature_is_broken_only_by_a_change_of_that_visit(randomized, personas):
    _, subject = randomized()
    u = personas["coord001"]
    v2 = fu.visit24h_save(subject=subject, user=u, data={"nihss_i1a": 1}, version=None)
    sign = lambda **kw: services.signature_sign(user=personas["inv001"], subject=subject, password=PASSWORD, **kw)  # noqa: E731
    s_v0, s_v2, s_book = sign(scope="visit", visit="V0"), sign(scope="visit", visit="V2"), sign(scope="casebook")
    fu.visit24h_save(subject=subject, user=u, data={"nihss_i1a": 2}, version=v2.version, reason="re-examined")
    for s in (s_v0, s_v2, s_book):
        s.refresh_from_db()
    assert s_v0.valid and not s_v2.valid and not s_book.valid
    assert "NIHSS" in s_v2.broken_reason and "1 → 2" in s_v2.broken_reason


def test_sdv_of_a_follow_up_form_is_cleared_by_its_change(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=2))
    v2 = fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1, "nihss_i2": 0},
                          version=None)
    services.sdv_mark(user=personas["monitor"], instance=v2)
    fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 2}, version=v2.version,
                     reason="re-examined")
    status = selectors.sdv_status_for(user=personas["monitor"], instance=v2)
    assert "nihss_i1a" not in status and "nihss_i2" in status


def test_database_lock_refuses_follow_up_entry(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=2))
    services.lock_database(user=personas["datamanager"], reason="interim analysis")
    with pytest.raises(DataLocked):
        fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1}, version=None)
    assert not fu.Visit24h.objects.filter(subject=subject).exists()


def test_randomization_time_order_against_the_procedure_form(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=3))
    with pytest.raises(HardCheckFailed) as excinfo:
        fu.procedure_save(subject=subject, user=personas["coord001"], passes=[], version=None,
                          data={"first_reperfusion_at": subject.randomized_at - dt.timedelta(minutes=1)})
    assert "first_reperfusion_at" in excinfo.value.errors


def test_casebook_and_form_pages_show_query_counts_signature_and_lock(make_subject, personas, client_for):
    subject = make_subject(timezone.now() - timedelta(days=2))
    v2 = fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1}, version=None)
    services.query_open(user=personas["monitor"], instance=v2, field_name="nihss_i1a", text="1 or 2?")
    coord = client_for("coord001")
    book = coord.get(f"/subjects/{subject.number}/").content.decode()
    assert 'data-testid="dm-panel"' in book and 'data-testid="queries-V2"' in book
    form = coord.get(f"/subjects/{subject.number}/form/V2/").content.decode()
    assert 'data-testid="dm-field-queries"' in form and "nihss_i1a: 1 open" in form
    services.lock_subject(user=personas["datamanager"], subject=subject)
    assert "Locked" in coord.get(f"/subjects/{subject.number}/").content.decode()
    assert 'data-testid="dm-lock"' in coord.get(f"/subjects/{subject.number}/form/V2/").content.decode()


def test_assessor_corrects_the_day90_date_from_the_query_through_the_forms_own_service(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=101))
    row = _day90(subject, personas["assessor001"], 99)
    q = Query.objects.get(crf_code="V5_DAY90", field_name="assessed_on")
    local_t0 = timezone.localtime(subject.randomized_at, subject.site.tz).date()
    services.crf_field_correct(user=personas["assessor001"], instance=row, field_name="assessed_on",
                               value=(local_t0 + timedelta(days=96)).isoformat(),
                               reason="date typed wrong; call log says day 96", query=q)
    row.refresh_from_db()
    q.refresh_from_db()
    assert (row.study_day, row.outside_window) == (96, False)  # derived by followup.services
    assert q.status == "answered" and "edit check no longer fails" in " ".join(m.text for m in q.messages.all())
    # site coordinators may not correct the blinded assessor's form
    with pytest.raises(Exception):  # noqa: B017 - PermissionDenied
        services.crf_field_correct(user=personas["coord001"], instance=row, field_name="mrs", value="3",
                                   reason="x")


def test_reason_for_change_form_mixin_requires_a_reason_only_for_changes_of_saved_data(make_subject, personas):
    from django import forms as djforms

    from datamanagement.forms import ReasonForChangeMixin

    class V2Form(ReasonForChangeMixin, djforms.ModelForm):
        class Meta:
            model = fu.Visit24h
            fields = ["nihss_i1a", "nihss_i2"]

    assert "reason_for_change" not in V2Form().fields  # first entry: no reason asked
    subject = make_subject(timezone.now() - timedelta(days=2))
    v2 = fu.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 1, "nihss_i2": 0},
                          version=None)
    unchanged = V2Form({"nihss_i1a": "1", "nihss_i2": "0"}, instance=v2)
    assert unchanged.is_valid()
    changed = V2Form({"nihss_i1a": "2", "nihss_i2": "0"}, instance=v2)
    assert not changed.is_valid() and "reason_for_change" in changed.errors
    with_reason = V2Form({"nihss_i1a": "2", "nihss_i2": "0", "reason_for_change": "re-examined"}, instance=v2)
    assert with_reason.is_valid() and with_reason.reason_for_change_value() == "re-examined"
