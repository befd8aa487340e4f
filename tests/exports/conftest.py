"""A small seeded study for the export tests, built through the real services: at sites 001
and 002, three randomized subjects, one screening closed as ineligible, one closed because
consent was refused (free text in Chinese) and one still open. Follow-up forms are filled by
whatever the follow-up app provides (exports are generic over core.crf)."""

import pytest

from exports.services import export_request, export_run
from tests.factories import make_confirmed_screening, make_screening

REFUSAL_TEXT = "家属拒绝签署知情同意书"


@pytest.fixture
def study(personas, sites, django_capture_on_commit_callbacks):
    from eligibility.services import screening_close
    from randomization.services import (
        allocation_list_generate,
        allocation_list_set_active,
        subject_randomize,
    )

    stat = personas["statistician"]
    allocation_list = allocation_list_generate(user=stat, seed="exports-tests", entries_per_stratum=8,
                                               site_codes=["001", "002", "003"])
    allocation_list_set_active(user=stat, allocation_list=allocation_list, active=True)
    staff = {"001": (personas["coord001"], personas["inv001"]),
             "002": (personas["coord002"], personas["inv002"])}
    allocations, screenings = [], []
    for code, (coord, inv) in staff.items():
        site = sites[code]
        for age in (55, 66, 77):
            screening = make_confirmed_screening(site=site, coordinator=coord, investigator=inv,
                                                 age_years=age)
            screenings.append(screening)
            allocations.append(subject_randomize(screening=screening, user=coord, notify=False))
        young = make_screening(site=site, coordinator=coord, age_years=17)
        screenings.append(screening_close(screening=young, user=coord, reason="ineligible"))
        refused = make_screening(site=site, coordinator=coord, consent="none", consent_at=None)
        screenings.append(screening_close(screening=refused, user=coord, reason="consent_refused",
                                          text=REFUSAL_TEXT))
        screenings.append(make_screening(site=site, coordinator=coord, nihss_items={}))
    subjects = [a.subject for a in allocations]
    _follow_up(subjects, personas)
    for subject in subjects:
        subject.refresh_from_db()
    return {"allocations": allocations, "screenings": screenings, "subjects": subjects}


def _follow_up(subjects, personas):
    """Follow-up forms through the follow-up services (skipped while that app has none).

    001-0001: procedure (reveals the arm), day-90 mRS 2 by the blinded assessor;
    001-0002: died (→ mRS 6); 001-0003: withdrew consent;
    002-0001: 48-hour CRF with a PH2 haemorrhage and intubation (sICH by Heidelberg);
    002-0002: lost to follow-up; 002-0003: nothing yet.
    """
    try:
        from followup import services as fu
    except ImportError:
        return
    from django.utils import timezone

    # The sites' own calendar day (Asia/Shanghai): after 16:00 UTC it is already tomorrow there.
    today = timezone.localdate(timezone=subjects[0].site.tz)
    coord1, coord2 = personas["coord001"], personas["coord002"]
    s1, s2, s3, s4, s5, _s6 = subjects
    fu.procedure_save(subject=s1, user=coord1, data={"final_etici": "3", "complication_notes": "无并发症"},
                      passes=[], version=None)
    fu.day90_save(subject=s1, user=personas["assessor001"], version=None,
                  data={"assessed_on": today, "mode": "phone", "respondent": "patient",
                        "blinded_attested": True, "mrs": 2})
    fu.death_record(subject=s2, user=coord1, data={"died_on": today, "cause": "other",
                                                   "cause_text": "肺炎"})
    fu.study_exit_record(subject=s3, user=coord1, data={"kind": "withdrawn", "exit_on": today,
                                                        "withdrawn_by": "patient"})
    fu.visit48h_save(subject=s4, user=coord2, version=None,
                     data={"imaging_modality": "ct", "imaging_at": timezone.now(), "new_ich": True,
                           "hb_2": True, "ecass_ph2": True, "worsening": True,
                           "worsening_at": timezone.now(), "major_intervention": "intubation",
                           "alternative_explanation": False, "ich_predominant_cause": True})
    fu.study_exit_record(subject=s5, user=coord2, data={"kind": "lost", "exit_on": today})


@pytest.fixture
def run_export(settings, tmp_path):
    """run_export(user, ["csv"], blinded=True, site_ids=None, forms=None) → finished Export."""
    settings.EDC_EXPORT_DIR = tmp_path / "exports"

    def _run(user, formats, **kw):
        export = export_request(user=user, formats=formats, dispatch=False, **kw)
        return export_run(export_id=export.pk)

    return _run
