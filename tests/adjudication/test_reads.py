"""Worklists and reads: cases appear when material is complete, two independent reads by
readers of other sites, disagreement → third read or consensus → final, locked reads, and
the query back to the site when the core lab contradicts eligibility."""

from __future__ import annotations

import pytest

from tests.adjudication.conftest import MP4, WAV, upload

pytestmark = pytest.mark.django_db


def _material(personas, subject, category, content, name):
    from adjudication.services import material_upload

    who = "assessor001" if category == "day90_recording" and subject.site.code == "001" else f"coord{subject.site.code}"
    return material_upload(user=personas[who], subject=subject, category=category, uploaded=upload(name, content))


def _case(subject, kind):
    from adjudication.models import Case

    return Case.objects.get(subject=subject, kind=kind)


def _read(user, case, data, finalize=True):
    from adjudication.services import read_claim, read_save

    read = read_claim(user=user, case=case)
    return read_save(user=user, read=read, data=data, finalize=finalize)


MRS_ANSWERS_3 = {"q1_dead": "false", "q2_bedridden": "false", "q3_constant_care": "false", "q4_walk_help": "false",
                 "q5_bodily_help": "false", "q6_affairs_help": "true", "q7_activities": "true", "q8_social": "true",
                 "q9_symptoms": "true"}
MRS_ANSWERS_2 = {**MRS_ANSWERS_3, "q6_affairs_help": "false"}


def test_a_case_is_created_when_its_material_is_complete(personas, randomized_subject, material_storage):
    from adjudication.models import Case

    subject = randomized_subject("001")
    assert not Case.objects.exists()
    _material(personas, subject, "day90_recording", WAV, "call.wav")
    _material(personas, subject, "day90_recording", WAV, "call2.wav")  # a second file, still one case
    assert list(Case.objects.values_list("kind", flat=True)) == ["mrs"]


def test_double_read_disagreement_third_read_final(personas, readers, randomized_subject, material_storage):
    from adjudication.exceptions import CaseNotAvailable
    from adjudication.models import CaseStatus, Resolution

    subject = randomized_subject("001")
    _material(personas, subject, "day90_recording", WAV, "call.wav")
    case = _case(subject, "mrs")
    _read(readers["rater2"], case, MRS_ANSWERS_3)
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN  # one read is not a result
    with pytest.raises(CaseNotAvailable):  # the same reader never reads twice
        _read(readers["rater2"], case, MRS_ANSWERS_3)
    _read(readers["rater3"], case, MRS_ANSWERS_2)
    case.refresh_from_db()
    assert case.status == CaseStatus.DISAGREEMENT and case.final_values == {}
    with pytest.raises(CaseNotAvailable):  # the first two readers cannot take the third read
        _read(readers["rater3"], case, MRS_ANSWERS_2)
    from tests.conftest import make_user

    rater4 = make_user("rater4", "mrs_rater", None)
    third = _read(rater4, case, MRS_ANSWERS_3)
    case.refresh_from_db()
    assert third.number == 3 and third.role == "third"
    assert case.status == CaseStatus.FINAL and case.resolution == Resolution.THIRD_READ
    assert case.final_values == {"mrs": 3}
    with pytest.raises(CaseNotAvailable):
        _read(make_user("rater5", "mrs_rater", None), case, MRS_ANSWERS_3)


def test_agreeing_reads_make_the_case_final(personas, readers, randomized_subject, material_storage):
    subject = randomized_subject("001")
    _material(personas, subject, "day90_recording", WAV, "call.wav")
    case = _case(subject, "mrs")
    _read(readers["rater2"], case, MRS_ANSWERS_2)
    _read(readers["rater3"], case, {**MRS_ANSWERS_2, "mrs": "2"})
    case.refresh_from_db()
    assert (case.status, case.resolution, case.final_values) == ("final", "agreement", {"mrs": 2})


def test_consensus_after_disagreement_is_recorded_with_who_took_part(personas, readers, randomized_subject,
                                                                     material_storage):
    from adjudication.exceptions import InvalidRead
    from adjudication.services import consensus_record

    subject = randomized_subject("001")
    _material(personas, subject, "day90_recording", WAV, "call.wav")
    case = _case(subject, "mrs")
    _read(readers["rater2"], case, MRS_ANSWERS_3)
    _read(readers["rater3"], case, MRS_ANSWERS_2)
    case.refresh_from_db()
    with pytest.raises(InvalidRead, match="note"):
        consensus_record(user=readers["rater2"], case=case, data=MRS_ANSWERS_2, note="")
    read = consensus_record(user=readers["rater2"], case=case, data=MRS_ANSWERS_2,
                            note="rater2, rater3 and the chair met on 3 March; mRS 2 agreed")
    case.refresh_from_db()
    assert read.role == "consensus" and case.resolution == "consensus" and case.final_values == {"mrs": 2}


def test_readers_never_get_their_own_sites_cases(personas, readers, randomized_subject, material_storage,
                                                 client_for):
    from adjudication.exceptions import CaseNotAvailable
    from adjudication.selectors import worklist

    s1 = randomized_subject("001")
    s2 = randomized_subject("002")
    _material(personas, s1, "day90_recording", WAV, "a.wav")
    _material(personas, s2, "day90_recording", WAV, "b.wav")
    c1, c2 = _case(s1, "mrs"), _case(s2, "mrs")
    assert [c.pk for c in worklist(readers["rater1"]).available] == [c2.pk]
    assert [c.pk for c in worklist(readers["rater2"]).available] == [c1.pk]
    assert {c.pk for c in worklist(readers["rater3"]).available} == {c1.pk, c2.pk}
    with pytest.raises(CaseNotAvailable, match="own site"):
        _read(readers["rater1"], c1, MRS_ANSWERS_2)
    client = client_for("rater1")
    assert client.get(f"/adjudication/cases/{c1.pk}/").status_code == 404
    page = client.get("/adjudication/worklist/").content.decode()
    assert s2.number in page and s1.number not in page
    # A core-lab reader's worklist has no mRS case at all.
    assert worklist(readers["corelab3"]).available == []


def test_a_final_read_is_locked_by_the_service_and_by_the_database(personas, readers, randomized_subject,
                                                                   material_storage):
    from django.db import ProgrammingError, transaction

    from adjudication.exceptions import ReadLocked
    from adjudication.models import Read
    from adjudication.services import read_save
    from audit.models import AuditEvent

    subject = randomized_subject("001")
    _material(personas, subject, "day90_recording", WAV, "call.wav")
    read = _read(readers["rater2"], _case(subject, "mrs"), MRS_ANSWERS_2)
    with pytest.raises(ReadLocked):
        read_save(user=readers["rater2"], read=read, data=MRS_ANSWERS_3, finalize=True)
    with pytest.raises(ProgrammingError, match="Cannot update"), transaction.atomic():
        Read.objects.filter(pk=read.pk).update(values={"mrs": 5})
    read.refresh_from_db()
    assert read.values["mrs"] == 2
    assert AuditEvent.objects.filter(detail__event="adjudication_read_final", object_id=str(read.pk)).count() == 1
    assert read.events.count() >= 2  # pghistory: claimed, then saved final


def test_invalid_values_name_the_field_and_rule(personas, readers, randomized_subject, material_storage,
                                                client_for):
    subject = randomized_subject("001")
    _material(personas, subject, "angiography", MP4, "run.mp4")
    case = _case(subject, "angio_etici")
    client = client_for("corelab2")
    assert client.post(f"/adjudication/cases/{case.pk}/claim/").status_code == 302
    response = client.post(f"/adjudication/cases/{case.pk}/", {"etici_last_pre": "4", "etici_final": "3",
                                                               "action": "finalize"})
    assert response.status_code == 400
    assert "etici_last_pre: choose one of 0, 1, 2a" in response.content.decode()


def test_core_lab_etici_2a_before_randomization_queries_the_site_as_a_deviation(
        personas, readers, randomized_subject, material_storage, client_for):
    from datamanagement.models import Query

    subject = randomized_subject("001")
    _material(personas, subject, "angiography", MP4, "run.mp4")
    case = _case(subject, "angio_etici")
    _read(readers["corelab2"], case, {"etici_last_pre": "2a", "etici_final": "2b67"})
    _read(readers["corelab3"], case, {"etici_last_pre": "2a", "etici_final": "2b67"})
    case.refresh_from_db()
    query = Query.objects.get(pk=case.query_id)
    assert query.protocol_deviation and query.check_code == "CORELAB_IN8" and query.opened_by is None
    assert query.site_id == subject.site_id and "2a" in query.text
    # The site sees the query, and no reader's name on it.
    page = client_for("coord001").get(f"/data/queries/{query.pk}/").content.decode()
    assert "IN8" in page and "corelab2" not in page and "corelab3" not in page


def test_core_lab_etici_0_1_raises_no_query(personas, readers, randomized_subject, material_storage):
    subject = randomized_subject("001")
    _material(personas, subject, "angiography", MP4, "run.mp4")
    case = _case(subject, "angio_etici")
    _read(readers["corelab2"], case, {"etici_last_pre": "1", "etici_final": "2b67"})
    _read(readers["corelab3"], case, {"etici_last_pre": "1", "etici_final": "2b67"})
    case.refresh_from_db()
    assert case.status == "final" and case.query_id is None


def test_an_ich_sends_the_case_to_the_committee(personas, readers, randomized_subject, material_storage):
    from datetime import timedelta

    from adjudication.models import Case
    from adjudication.services import cases_refresh_all
    from followup import services as fu
    from tests.adjudication.conftest import PNG

    # Reported by the site on the 48-hour form → the periodic sweep creates the sICH case.
    s1 = randomized_subject("001")
    fu.visit48h_save(subject=s1, user=personas["coord001"], version=None,
                     data={"imaging_modality": "ct", "imaging_at": s1.randomized_at + timedelta(hours=30),
                           "new_ich": True, "hb_1a": True})
    assert not Case.objects.filter(kind="sich").exists()
    assert cases_refresh_all() == 1
    assert Case.objects.filter(subject=s1, kind="sich").exists()
    assert cases_refresh_all() == 0  # safe to run twice
    # Seen by the core lab on the follow-up imaging → the committee's case is created.
    s2 = randomized_subject("002")
    _material(personas, s2, "followup_imaging", PNG, "ct.png")
    case = _case(s2, "followup_imaging")
    _read(readers["corelab1"], case, {"ich": "true", "heidelberg": "1c"})
    _read(readers["corelab3"], case, {"ich": "true", "heidelberg": "1c"})
    assert Case.objects.filter(subject=s2, kind="sich").exists()
