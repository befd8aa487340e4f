"""The DSMB pack: a cut-off freezes a snapshot; the closed report (by arm) is the
statistician's alone; the open report (pooled) carries no arm; page and PDF (Chinese-capable)
are reproduced from the snapshot, whatever changed since."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db

ARM_LABELS = re.compile(r"Stenting or angioplasty|Continued thrombectomy|STENTING|CONTINUED_MT")


@pytest.fixture
def trial(personas, randomized_subject):
    import time_machine

    from followup import services as fu

    subjects = [randomized_subject("001"), randomized_subject("001"), randomized_subject("002")]
    # Entered on day 90 (ten days ago): before every cut-off the tests choose.
    with time_machine.travel(subjects[0].randomized_at + timedelta(days=90), tick=True):
        for s, mrs in zip(subjects[:2], (1, 4), strict=True):
            fu.day90_save(subject=s, user=personas["assessor001"], version=None,
                          data={"assessed_on": s.randomized_at.date() + timedelta(days=90), "mode": "phone",
                                "respondent": "patient", "blinded_attested": True, "mrs": mrs})
        fu.adverse_event_save(subject=subjects[0], user=personas["coord001"],
                              data={"term": "intracranial haemorrhage", "onset_on": subjects[0].randomized_at.date(),
                                    "serious": True, "sae_hospitalization": True})
    return subjects


def _snapshot(personas):
    from adjudication.services import dsmb_snapshot_take

    return dsmb_snapshot_take(user=personas["statistician"], cut_off=timezone.now() - timedelta(minutes=1))


def test_closed_report_by_arm_for_the_statistician_only(personas, readers, trial, client_for):
    from randomization.models import Allocation

    snap = _snapshot(personas)
    stat = client_for("statistician")
    page = stat.get(f"/adjudication/dsmb/{snap.pk}/closed/").content.decode()
    arms = set(Allocation.objects.values_list("arm", flat=True))
    assert ARM_LABELS.search(page)
    assert "intracranial haemorrhage" in page  # the SAE listing
    assert page.count('data-testid="grotta"') == 4  # site and adjudicated, per arm
    assert len(arms) >= 1
    for who in ("steering", "datamanager", "coord001", "monitor", "corelab1"):
        client = client_for(who)
        assert client.get(f"/adjudication/dsmb/{snap.pk}/closed/").status_code == 403, who
        assert client.get(f"/adjudication/dsmb/{snap.pk}/closed/?format=pdf").status_code == 403, who


def test_open_report_is_pooled_and_carries_no_arm(personas, readers, trial, client_for):
    snap = _snapshot(personas)
    client = client_for("steering")
    response = client.get(f"/adjudication/dsmb/{snap.pk}/open/")
    assert response.status_code == 200
    page = response.content.decode()
    assert not ARM_LABELS.search(page)
    assert 'data-testid="total">3<' in page and page.count('data-testid="grotta"') == 2
    assert "intracranial haemorrhage" in page
    listing = client.get("/adjudication/dsmb/").content.decode()
    assert "closed/" not in listing and "cutoff-form" not in listing
    assert client.post("/adjudication/dsmb/", {"cut_off": "2026-01-01 00:00"}).status_code == 403
    pdf = client.get(f"/adjudication/dsmb/{snap.pk}/open/?format=pdf").content
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf
    assert not ARM_LABELS.search(pdf.decode("latin-1"))


def test_the_report_is_reproduced_from_the_snapshot(personas, trial, client_for):
    from adjudication import dsmb
    from adjudication.models import DsmbSnapshot
    from followup import services as fu

    snap = _snapshot(personas)
    before = dsmb.closed_report(DsmbSnapshot.objects.get(pk=snap.pk))
    # Data change after the cut-off: a new subject's SAE, a death — the snapshot's report does not move.
    fu.adverse_event_save(subject=trial[1], user=personas["coord001"],
                          data={"term": "pneumonia", "onset_on": timezone.localdate(), "serious": True,
                                "sae_hospitalization": True})
    after = dsmb.closed_report(DsmbSnapshot.objects.get(pk=snap.pk))
    assert before["groups"] == after["groups"] and before["saes"] == after["saes"]
    stat = client_for("statistician")
    first = stat.get(f"/adjudication/dsmb/{snap.pk}/closed/?format=pdf").content
    second = stat.get(f"/adjudication/dsmb/{snap.pk}/closed/?format=pdf").content
    assert first == second and first.startswith(b"%PDF")
    # A new snapshot with a cut-off after the change does see the new SAE.
    from adjudication.services import dsmb_snapshot_take

    later = dsmb_snapshot_take(user=personas["statistician"], cut_off=timezone.now())
    assert "pneumonia" in str(dsmb.closed_report(later)["saes"])
    from django.db import ProgrammingError, transaction

    with pytest.raises(ProgrammingError), transaction.atomic():
        DsmbSnapshot.objects.filter(pk=snap.pk).update(rows=[])


def test_the_pdf_prints_chinese(personas, trial, client_for):
    from django.utils import translation

    from adjudication import dsmb
    from adjudication.dsmb_pdf import report_pdf

    snap = _snapshot(personas)
    with translation.override("zh-hans"):
        report = dsmb.open_report(snap)
        pdf = report_pdf(report)
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf
    assert report["title"] != "DSMB open report (pooled)"  # translated


def test_the_cut_off_must_be_a_past_date_time(personas, client_for):
    client = client_for("statistician")
    response = client.post("/adjudication/dsmb/", {"cut_off": "next tuesday"})
    assert response.status_code == 400 and "Data cut-off: give a date and time" in response.content.decode()
    future = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    response = client.post("/adjudication/dsmb/", {"cut_off": future})
    assert response.status_code == 400 and "cannot be in the future" in response.content.decode()


def test_the_snapshot_counts_only_subjects_randomized_by_the_cut_off(personas, trial):
    from adjudication.services import dsmb_snapshot_take

    first = min(s.randomized_at for s in trial)
    snap = dsmb_snapshot_take(user=personas["statistician"], cut_off=first)
    assert len(snap.rows) == 1


def test_the_snapshot_holds_the_data_as_it_stood_at_the_cut_off(personas, trial):
    """Changes after the cut-off — a corrected day-90 mRS, a new SAE, a death, a new subject's
    data — are not in a snapshot of that cut-off; a rebuild for the same cut-off is identical."""
    from adjudication import dsmb
    from adjudication.services import dsmb_snapshot_take
    from followup import services as fu
    from followup.models import Day90

    cut_off = timezone.now() - timedelta(minutes=1)
    first = dsmb_snapshot_take(user=personas["statistician"], cut_off=cut_off)
    row = {r["subject"]: r for r in first.rows}
    assert (row[trial[0].number]["mrs_site"], row[trial[1].number]["mrs_site"]) == (1, 4)
    # after the cut-off: the day-90 mRS of the first subject corrected, the second dies, an SAE
    day90 = Day90.objects.get(subject=trial[0])
    fu.day90_save(subject=trial[0], user=personas["assessor001"], version=day90.version,
                  reason="re-interviewed the patient",
                  data={"assessed_on": day90.assessed_on, "mode": "phone", "respondent": "patient",
                        "blinded_attested": True, "mrs": 3})
    fu.death_record(subject=trial[1], user=personas["coord001"],
                    data={"died_on": timezone.localdate(), "cause": "other", "cause_text": "pneumonia"})
    fu.adverse_event_save(subject=trial[2], user=personas["coord002"],
                          data={"term": "pneumonia", "onset_on": timezone.localdate(), "serious": True,
                                "sae_hospitalization": True})
    assert dsmb.snapshot_rows(cut_off) == first.rows
    again = dsmb_snapshot_take(user=personas["statistician"], cut_off=cut_off)
    assert (again.rows, again.sha256) == (first.rows, first.sha256)
    # the same changes are in a snapshot of a later cut-off
    now = {r["subject"]: r for r in dsmb_snapshot_take(user=personas["statistician"], cut_off=timezone.now()).rows}
    assert now[trial[0].number]["mrs_site"] == 3
    assert (now[trial[1].number]["mrs_site"], now[trial[1].number]["death"], now[trial[1].number]["status"]) == (
        6, True, "dead")
    assert [e["term"] for e in now[trial[2].number]["saes"]] == ["pneumonia"]
    assert (row[trial[1].number]["death"], row[trial[1].number]["status"], row[trial[2].number]["saes"]) == (
        False, "on_study", [])
