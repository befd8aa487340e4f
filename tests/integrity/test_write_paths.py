"""One write path: every registered form's every path (first entry, edit, correction through
a query) runs the same guard with the same checks — the ones its registry entry declares."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from core import crf as registry
from datamanagement import editchecks
from datamanagement import services as dm
from tests.integrity.conftest import nihss

pytestmark = pytest.mark.django_db


def _spy():
    calls = []
    real = editchecks.run

    def run(checks, data, ctx=None):
        calls.append(tuple(checks) if not isinstance(checks, str) else registry.get(checks).checks)
        return real(checks, data, ctx)

    return calls, mock.patch("datamanagement.services.guard.editchecks.run", side_effect=run)


def _entry_edit_correct(code, subject, personas):
    """(first entry, edit, correction) callables of form `code` for `subject`."""
    from followup import services as fu
    from followup.models import ProcedurePass

    crf = registry.get(code)
    t0 = subject.randomized_at
    day = timezone.localtime(t0, subject.site.tz).date()
    coord, assessor = personas["coord001"], personas["assessor001"]
    if code in ("V1_PROCEDURE", "V1_PASS"):
        passes = [{"technique": "combined", "device": "", "at": t0 + timedelta(minutes=5), "etici": "1"}]
        data = {"first_reperfusion_at": t0 + timedelta(minutes=10), "procedure_end_at": t0 + timedelta(minutes=40),
                "final_etici": "2b67"}
        holder = {}

        def entry():
            holder["v1"] = fu.procedure_save(subject=subject, user=coord, data=data, passes=passes, version=None)

        def edit():
            v1 = holder["v1"]
            fu.procedure_save(subject=subject, user=coord, data={**data, "final_etici": "3"},
                              passes=[{**passes[0], "etici": "2a"}], version=v1.version, reason="source")

        def correct():
            row = ProcedurePass.objects.get(procedure__subject=subject) if code == "V1_PASS" else \
                crf.model.objects.get(subject=subject)
            dm.crf_field_correct(user=coord, instance=row, field_name="etici" if code == "V1_PASS" else "final_etici",
                                 value="2b50", reason="source")

        return entry, edit, correct
    data, field, value, user = {
        "V2_24H": ({"assessed_at": t0 + timedelta(hours=24), **nihss()}, "nihss_i1a", "2", coord),
        "V3_48H": ({"imaging_modality": "ct", "imaging_at": t0 + timedelta(hours=40), "new_ich": False},
                   "imaging_modality", "mri", coord),
        "V4_DAY7": ({"assessed_on": day + timedelta(days=7), **nihss(), "mrs_discharge": 2}, "mrs_discharge", "3",
                    coord),
        "V5_DAY90": ({"assessed_on": day + timedelta(days=90), "mode": "in_person", "blinded_attested": True,
                      "mrs": 2}, "mode", "phone", assessor),
        "AE": ({"term": "headache", "onset_on": day + timedelta(days=1), "severity": "mild"}, "severity",
               "moderate", coord),
        "DEATH": ({"died_on": day + timedelta(days=50), "cause": "unknown"}, "cause", "other", coord),
        "DEVIATION": ({"occurred_on": day + timedelta(days=2), "category": "other", "description": "x"}, "major",
                      "True", coord),
        "EXIT": ({"kind": "lost", "exit_on": day + timedelta(days=95)}, "kind", "completed", coord),
    }[code]
    holder = {}

    def entry():
        holder["row"] = crf.save(subject=subject, user=user, data=data, version=None)

    def edit():
        row = holder["row"]
        kwargs = {"pk": row.pk} if crf.repeating else {}
        crf.save(subject=subject, user=user, data={**data, field: row._meta.get_field(field).to_python(value)},
                 version=row.version, reason="source", **kwargs)

    def correct():
        row = crf.model.objects.get(pk=holder["row"].pk)
        dm.crf_field_correct(user=user, instance=row, field_name=field, value=value if code != "V2_24H" else "3",
                             reason="source")

    return entry, edit, correct


FOLLOW_UP = ["V1_PROCEDURE", "V1_PASS", "V2_24H", "V3_48H", "V4_DAY7", "V5_DAY90", "AE", "DEATH", "DEVIATION", "EXIT"]


def test_every_registered_form_is_covered_here():
    assert {c.code for c in registry.all_crfs()} == {*FOLLOW_UP, "SCREENING"}


@pytest.mark.parametrize("code", FOLLOW_UP)
def test_entry_edit_and_correction_run_the_same_registered_checks(code, make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(days=100))
    declared = registry.get(code).checks
    assert declared or code in ("DEVIATION",)  # every form but the free-text deviation declares checks
    for path in _entry_edit_correct(code, subject, personas):
        calls, patcher = _spy()
        with patcher:
            path()
        assert declared in calls, f"{code}: {path.__name__} did not run the form's checks"


def test_screening_entry_edit_and_correction_run_the_same_registered_checks(personas, sites):
    from eligibility.services import screening_update
    from tests.factories import eligible_screening_data, make_screening

    declared = registry.get("SCREENING").checks
    calls, patcher = _spy()
    with patcher:
        screening = make_screening(site=sites["001"], coordinator=personas["coord001"], age_years=None)
    assert declared in calls
    calls, patcher = _spy()
    with patcher:
        screening = screening_update(screening=screening, user=personas["coord001"],
                                     data=eligible_screening_data(age_years=60), version=screening.version)
    assert declared in calls
    calls, patcher = _spy()
    with patcher:
        dm.crf_field_correct(user=personas["coord001"], instance=screening, field_name="age_years", value="61",
                             reason="passport")
    assert declared in calls
    screening.refresh_from_db()
    assert screening.age_years == 61


def test_a_check_added_to_the_registry_refuses_on_every_path(make_subject, personas):
    """Declaring one more hard check in the registry is enough: entry, edit and correction all
    refuse with it (no path keeps its own list)."""
    from core.exceptions import HardCheckFailed

    original = registry.get("V4_DAY7")
    sentinel = editchecks.rule("SENTINEL", "mrs_discharge", editchecks.HARD, "mRS at discharge is never 5 here",
                               lambda data, ctx: "five refused" if data.get("mrs_discharge") == 5 else None)
    registry.replace("V4_DAY7", checks=(*original.checks, sentinel))
    try:
        subject = make_subject(timezone.now() - timedelta(days=100))
        day = timezone.localtime(subject.randomized_at, subject.site.tz).date() + timedelta(days=7)
        coord = personas["coord001"]
        from followup import services as fu

        with pytest.raises(HardCheckFailed, match="five refused"):
            fu.visit7d_save(subject=subject, user=coord, data={"assessed_on": day, "mrs_discharge": 5}, version=None)
        row = fu.visit7d_save(subject=subject, user=coord, data={"assessed_on": day, "mrs_discharge": 3}, version=None)
        with pytest.raises(HardCheckFailed, match="five refused"):
            fu.visit7d_save(subject=subject, user=coord, data={"assessed_on": day, "mrs_discharge": 5},
                            version=row.version, reason="r")
        with pytest.raises(HardCheckFailed, match="five refused"):
            dm.crf_field_correct(user=coord, instance=row, field_name="mrs_discharge", value="5", reason="r")
    finally:
        registry.replace("V4_DAY7", checks=original.checks)
