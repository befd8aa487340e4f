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
    return {"allocations": allocations, "screenings": screenings,
            "subjects": [a.subject for a in allocations]}


@pytest.fixture
def run_export(settings, tmp_path):
    """run_export(user, ["csv"], blinded=True, site_ids=None, forms=None) → finished Export."""
    settings.EDC_EXPORT_DIR = tmp_path / "exports"

    def _run(user, formats, **kw):
        export = export_request(user=user, formats=formats, dispatch=False, **kw)
        return export_run(export_id=export.pk)

    return _run
