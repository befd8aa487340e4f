"""A small seeded study for the export tests: screenings (some with Chinese free text) and
randomized subjects at sites 001 and 002, plus whatever the other apps register."""

import datetime as dt

import pytest
from django.utils import timezone

from exports.services import export_request, export_run


def _screening(site, user, n, **extra):
    from eligibility.models import Screening

    base = timezone.now() - dt.timedelta(days=100 - n)
    data = dict(
        site=site, number=f"{site.code}-S{n:04d}", created_by=user, age_years=50 + n,
        sex="female" if n % 2 else "male", prestroke_mrs=n % 2, last_known_well=base,
        arterial_puncture_at=base + dt.timedelta(hours=3), nihss_baseline=6 + n,
        occlusion_site="MCA_M1", circulation="anterior", aspects=7, evt_intended=True,
        platelets="150.0", inr="1.10", consent="patient", consent_at=base + dt.timedelta(hours=2),
        verdict_status="eligible", nihss_items={"1a": 1, "5a": 2},
    )
    data.update(extra)
    return Screening.objects.create(**data)


@pytest.fixture
def study(personas, sites):
    """Returns {"screenings": [...], "subjects": [...]} for sites 001 and 002."""
    from core.models import Subject

    coord = {"001": personas["coord001"], "002": personas["coord002"]}
    screenings, subjects = [], []
    for code in ("001", "002"):
        site = sites[code]
        for n in range(1, 4):
            screenings.append(_screening(site, coord[code], n))
        screenings.append(_screening(site, coord[code], 4, verdict_status="ineligible",
                                     outcome="ineligible", closed_reason_text="患者家属拒绝 — 中文",
                                     age_years=17))
        for n in range(1, 3):
            subjects.append(Subject.objects.create(
                number=f"{code}-{n:04d}", site=site,
                randomized_at=timezone.now() - dt.timedelta(days=95 - n)))
    return {"screenings": screenings, "subjects": subjects}


@pytest.fixture
def run_export(settings, tmp_path):
    settings.EDC_EXPORT_DIR = tmp_path / "exports"

    def _run(user, formats, **kw):
        export = export_request(user=user, formats=formats, dispatch=False, **kw)
        return export_run(export_id=export.pk)

    return _run
