"""Property test: random values — year 1, year 9999, NUL bytes, control characters, huge
numbers, every code of every code list, garbage — driven through every CRF's write path
(the correction of any field, which goes through the form's own update service and the one
guard). Either the write is refused with a clear message naming the field, or the stored row
reads back everywhere: the database driver, the casebook, the data-management page, the audit
viewer, the CSV rows and the ODM export of that subject."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import crf as registry
from core.exceptions import DomainError
from datamanagement import services as dm
from datamanagement.crfs import data_fields, field_label

pytestmark = pytest.mark.django_db

EDGE_DATES = [dt.date(1, 1, 1), dt.date(1899, 12, 31), dt.date(1900, 1, 1), dt.date(9999, 12, 31)]
NASTY_TEXT = ["a\x00b", "\x00", "x\x07y", "line\nbreak", "tab\tok", "🧠 中文", "'; DROP TABLE x; --", "=1+1",
              "x" * 5000, ""]


def values_for(f) -> st.SearchStrategy:
    kind = f.get_internal_type()
    garbage = st.sampled_from(["abc", "1e999", "NaN", "-1", "99999999999999999999", "１２", " "])
    if f.choices:
        return st.one_of(st.sampled_from([str(k) for k, _label in f.flatchoices if k not in ("", None)]), garbage,
                         st.sampled_from(NASTY_TEXT))
    if kind == "DateField":
        return st.one_of(st.sampled_from(EDGE_DATES), st.dates()).map(lambda d: f"{d:%Y-%m-%d}") | garbage
    if kind == "DateTimeField":
        return st.one_of(st.sampled_from(EDGE_DATES), st.dates()).map(lambda d: f"{d:%Y-%m-%d} 08:30") | garbage
    if kind in ("PositiveSmallIntegerField", "SmallIntegerField", "IntegerField", "PositiveIntegerField"):
        return st.one_of(st.integers(-10, 50), st.integers(-2**70, 2**70)).map(str) | garbage
    if kind == "DecimalField":
        return st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str), garbage)
    if kind == "BooleanField":
        return st.sampled_from(["True", "False", "1", "0", "maybe", ""])
    if kind == "JSONField":
        return st.sampled_from(["{}", '{"1a": 9}', '{"5a": "UN"}', "[1]", "not json", '{"\\u0000": 1}'])
    return st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=30))


@pytest.fixture
def casebook(make_subject, personas, sites):
    """A subject with a row of every form, each through its real save service."""
    from followup import services as fu
    from followup.models import ProcedurePass
    from randomization.models import Allocation
    from tests.integrity.conftest import nihss

    subject = make_subject(timezone.now() - timedelta(days=100))
    t0, day = subject.randomized_at, timezone.localtime(subject.randomized_at, subject.site.tz).date()
    coord, assessor = personas["coord001"], personas["assessor001"]
    rows = {"SCREENING": Allocation.objects.get(subject=subject).screening}
    rows["V1_PROCEDURE"] = fu.procedure_save(
        subject=subject, user=coord, version=None,
        data={"first_reperfusion_at": t0 + timedelta(minutes=10), "procedure_end_at": t0 + timedelta(minutes=40),
              "final_etici": "2b67"},
        passes=[{"technique": "combined", "device": "", "at": t0 + timedelta(minutes=5), "etici": "1"}])
    rows["V1_PASS"] = ProcedurePass.objects.get(procedure=rows["V1_PROCEDURE"])
    rows["V2_24H"] = fu.visit24h_save(subject=subject, user=coord, version=None,
                                      data={"assessed_at": t0 + timedelta(hours=24), **nihss()})
    rows["V3_48H"] = fu.visit48h_save(subject=subject, user=coord, version=None,
                                      data={"imaging_modality": "ct", "imaging_at": t0 + timedelta(hours=40)})
    rows["V4_DAY7"] = fu.visit7d_save(subject=subject, user=coord, version=None,
                                      data={"assessed_on": day + timedelta(days=7), "mrs_discharge": 2})
    rows["V5_DAY90"] = fu.day90_save(subject=subject, user=assessor, version=None,
                                     data={"assessed_on": day + timedelta(days=90), "mrs": 2, "blinded_attested": True})
    rows["AE"] = fu.adverse_event_save(subject=subject, user=coord, data={"term": "headache",
                                                                          "onset_on": day + timedelta(days=1)})
    rows["DEVIATION"] = fu.deviation_save(subject=subject, user=coord, data={
        "occurred_on": day + timedelta(days=2), "category": "other", "description": "late visit"})
    rows["EXIT"] = fu.study_exit_record(subject=subject, user=coord, data={"kind": "completed",
                                                                           "exit_on": day + timedelta(days=95)})
    rows["DEATH"] = None  # a death changes the subject's status: tested on its own below
    return subject, rows


def _read_back(subject, code, client, monitor_client):
    """Everything that shows the subject's data must still read it."""
    import tempfile
    from pathlib import Path

    from exports.columns import tables
    from exports.dataset import Scope, table_rows
    from exports.formats.odm import write_odm
    from followup.selectors import casebook

    crf = registry.get(code)
    for row in crf.model.objects.all():
        row.refresh_from_db()  # the database driver reads every stored value back
    casebook(client.user, subject.number)
    assert client.get(f"/subjects/{subject.number}/").status_code == 200
    pk = crf.model.objects.order_by("pk").values_list("pk", flat=True).last()
    # The procedure form reveals the arm: its data-management page is read by unblinded site staff.
    reviewer = client if crf.reveals_arm else monitor_client
    assert reviewer.get(f"/data/crf/{code}/{pk}/").status_code == 200
    assert monitor_client.get("/data/audit/", {"subject": subject.number}).status_code == 200
    scope = Scope(blinded=False, site_ids=(subject.site_id,), forms=(code,))
    chosen = tables(blinded=False, codes=[code])
    for table in chosen:
        list(table_rows(table, scope, for_csv=True))
    with tempfile.TemporaryDirectory() as tmp:
        write_odm(chosen, scope, Path(tmp) / "odm.xml", file_oid="PROPERTY")


# Every registered form but the death form (a death ends the subject's follow-up; its write
# path is the same guard, covered by test_write_paths).
CODES = ["SCREENING", "V1_PROCEDURE", "V1_PASS", "V2_24H", "V3_48H", "V4_DAY7", "V5_DAY90", "AE", "DEVIATION", "EXIT"]


@pytest.mark.parametrize("code", CODES)
def test_any_value_through_the_write_path_is_refused_clearly_or_reads_back(code, casebook, personas, client_for):
    subject, rows = casebook
    crf = registry.get(code)
    fields = data_fields(crf)
    user = personas["assessor001"] if code == "V5_DAY90" else personas["coord001"]
    reader = client_for("assessor001" if code == "V5_DAY90" else "coord001")
    reader.user = user
    monitor = client_for("datamanager")
    refused = stored = 0

    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def drive(data):
        nonlocal refused, stored
        f = data.draw(st.sampled_from(fields), label="field")
        value = data.draw(values_for(f), label="value")
        instance = crf.model.objects.get(pk=rows[code].pk)
        try:
            dm.crf_field_correct(user=user, instance=instance, field_name=f.name, value=value,
                                 reason="property test")
        except PermissionDenied as exc:  # e.g. locked: still a clear message, never a 500
            assert str(exc)
            refused += 1
        except DomainError as exc:
            message = str(exc)
            names = [n for g in fields for n in (g.name, str(field_label(crf, g.name)))]
            assert message and any(n in message for n in names), message  # names the field
            refused += 1
        else:
            stored += 1
        _read_back(subject, code, reader, monitor)

    drive()
    assert refused + stored >= 8
