"""Who may export what: blinding, site scope, audit, idempotent runs, the command line."""

import csv
import io
import zipfile

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from exports.exceptions import ExportInvalid, ExportNotPermitted
from exports.models import Export
from exports.services import export_request, export_run

pytestmark = pytest.mark.django_db

ARM_MARKERS = [b"STENTING", b"CONTINUED_MT", b"Stenting or angioplasty", b"Continued thrombectomy"]


def _bundle_bytes(export) -> dict[str, bytes]:
    bundle = zipfile.ZipFile(export.path)
    return {name: bundle.read(name) for name in bundle.namelist()}


def _has_arm_column(name: str, data: bytes) -> bool:
    if name.endswith(".csv"):
        header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        return "arm" in header
    return b"arm" in data.split(b"\n", 1)[0] if name.endswith(".sas") else False


@pytest.mark.parametrize("fmt", ["csv", "odm", "xpt", "dta", "sav"])
def test_blinded_export_of_any_format_contains_no_arm(fmt, study, personas, run_export):
    export = run_export(personas["datamanager"], [fmt])
    assert export.blinded
    for name, data in _bundle_bytes(export).items():
        for marker in ARM_MARKERS:
            assert marker not in data, f"{marker!r} found in {name}"
        assert not _has_arm_column(name, data), name


@pytest.mark.parametrize("fmt", ["csv", "dta"])
def test_statistician_unblinded_export_carries_the_arm(fmt, study, personas, run_export):
    """The positive control of the blinding test: the same search finds the arm here."""
    export = run_export(personas["statistician"], [fmt], blinded=False)
    assert not export.blinded
    found = b"".join(_bundle_bytes(export).values())
    assert b"STENTING" in found or b"Stenting or angioplasty" in found
    if fmt == "csv":
        analysis = list(csv.DictReader(io.StringIO(_bundle_bytes(export)["csv/analysis.csv"]
                                                   .decode("utf-8-sig"))))
        arms = {a.subject.number: a.arm for a in study["allocations"]}
        assert {r["subject_number"]: r["arm"] for r in analysis} == arms


def test_statistician_export_is_blinded_by_default(study, personas, run_export):
    export = run_export(personas["statistician"], ["csv"])
    assert export.blinded
    assert b"STENTING" not in b"".join(_bundle_bytes(export).values())


@pytest.mark.parametrize("username", ["datamanager", "admin", "monitor"])
def test_unblinded_export_is_refused_to_everyone_but_the_statistician(username, study, personas):
    with pytest.raises(ExportNotPermitted, match="statistician only"):
        export_request(user=personas[username], formats=["csv"], blinded=False, dispatch=False)
    assert not Export.objects.exists()


@pytest.mark.parametrize("username", ["coord001", "inv001", "assessor001"])
def test_site_staff_and_assessor_may_not_export(username, study, personas):
    with pytest.raises(ExportNotPermitted):
        export_request(user=personas[username], formats=["csv"], dispatch=False)


def test_monitor_export_holds_only_the_monitors_sites(study, personas, sites, run_export):
    export = run_export(personas["monitor"], ["csv", "odm"])
    assert export.site_ids == [sites["001"].pk]
    files = _bundle_bytes(export)
    for name in ("csv/screening.csv", "csv/analysis.csv"):
        rows = list(csv.DictReader(io.StringIO(files[name].decode("utf-8-sig"))))
        assert rows and {r["site"] for r in rows} == {"001"}, name
    assert b"002-" not in files["odm/angel_rescue.xml"]
    assert b"LOC.002" not in files["odm/angel_rescue.xml"]


def test_monitor_cannot_ask_for_another_site(study, personas, sites):
    with pytest.raises(ExportNotPermitted, match="002"):
        export_request(user=personas["monitor"], formats=["csv"], site_ids=[sites["002"].pk],
                       dispatch=False)


def test_blinded_export_refuses_an_arm_revealing_form_by_name(study, personas):
    from core import crf as registry

    revealing = [c.code for c in registry.all_crfs() if c.reveals_arm]
    if not revealing:
        pytest.skip("no arm-revealing form is registered yet (procedure CRF)")
    with pytest.raises(ExportNotPermitted, match="reveals the treatment arm"):
        export_request(user=personas["datamanager"], formats=["csv"], forms=revealing[:1],
                       dispatch=False)


def test_unknown_format_or_form_is_named_in_the_error(study, personas):
    with pytest.raises(ExportInvalid, match="pdf"):
        export_request(user=personas["datamanager"], formats=["pdf"], dispatch=False)
    with pytest.raises(ExportInvalid, match="NOPE"):
        export_request(user=personas["datamanager"], formats=["csv"], forms=["NOPE"], dispatch=False)
    with pytest.raises(ExportInvalid, match="at least one format"):
        export_request(user=personas["datamanager"], formats=[], dispatch=False)


def test_every_export_is_audited_with_who_what_blinding_and_checksum(study, personas, run_export):
    export = run_export(personas["datamanager"], ["csv", "sav"])
    events = list(AuditEvent.objects.filter(action="export", object_id=str(export.pk)).order_by("id"))
    assert [e.detail["event"] for e in events] == ["requested", "written"]
    requested, written = events
    assert requested.actor == personas["datamanager"]
    assert requested.detail["formats"] == ["csv", "sav"] and requested.detail["blinded"] is True
    assert requested.detail["sites"] == ["001", "002", "003"]
    assert written.detail["sha256"] == export.sha256 and len(export.sha256) == 64
    assert written.detail["row_counts"]["csv"]["SCREENING"] == len(study["screenings"])


def test_a_task_delivered_twice_writes_and_audits_once(study, personas, settings, tmp_path):
    settings.EDC_EXPORT_DIR = tmp_path
    export = export_request(user=personas["datamanager"], formats=["csv"], dispatch=False)
    first = export_run(export_id=export.pk)
    second = export_run(export_id=export.pk)
    assert first.status == second.status == "done"
    assert second.sha256 == first.sha256
    assert AuditEvent.objects.filter(action="export", detail__event="written").count() == 1


def test_a_stale_running_export_is_taken_over_by_a_redelivered_task(study, personas, settings, tmp_path):
    import datetime as dt

    from django.utils import timezone

    settings.EDC_EXPORT_DIR = tmp_path
    export = export_request(user=personas["datamanager"], formats=["csv"], dispatch=False)
    # The worker died after claiming: running for 20 minutes, no file.
    Export.objects.filter(pk=export.pk).update(status="running",
                                               started_at=timezone.now() - dt.timedelta(minutes=20))
    assert export_run(export_id=export.pk).status == "done"


def test_a_fresh_running_export_is_left_to_its_worker(study, personas, settings, tmp_path):
    from django.utils import timezone

    settings.EDC_EXPORT_DIR = tmp_path
    export = export_request(user=personas["datamanager"], formats=["csv"], dispatch=False)
    Export.objects.filter(pk=export.pk).update(status="running", started_at=timezone.now())
    assert export_run(export_id=export.pk).status == "running"
    assert not AuditEvent.objects.filter(detail__event="written").exists()


def test_export_data_command_writes_blinded_files_for_the_data_manager(study, personas, settings, tmp_path):
    settings.EDC_EXPORT_DIR = tmp_path / "store"
    out = tmp_path / "csv-out"
    call_command("export_data", "--format", "csv", "--output", str(out), "--user", "datamanager",
                 stdout=io.StringIO())
    assert (out / "screening.csv").exists() and (out / "dictionary.csv").exists()
    assert b"STENTING" not in (out / "analysis.csv").read_bytes()
    assert Export.objects.get().blinded


def test_export_data_command_gives_the_statistician_the_unblinded_odm(study, personas, settings, tmp_path):
    from exports.formats.odm import validate

    settings.EDC_EXPORT_DIR = tmp_path / "store"
    out = tmp_path / "study.xml"
    call_command("export_data", "--format", "odm", "--output", str(out), "--user", "statistician",
                 stdout=io.StringIO())
    validate(out)
    assert not Export.objects.get().blinded


def test_export_data_command_refuses_a_user_without_export_rights(study, personas, settings, tmp_path):
    from django.core.management.base import CommandError

    settings.EDC_EXPORT_DIR = tmp_path
    with pytest.raises(CommandError, match="exports"):
        call_command("export_data", "--format", "csv", "--output", str(tmp_path / "x"),
                     "--user", "coord001", stdout=io.StringIO())


def test_monitor_odm_lists_only_the_staff_of_the_monitors_site(study, personas, run_export):
    export = run_export(personas["monitor"], ["odm"])
    xml = _bundle_bytes(export)["odm/angel_rescue.xml"]
    assert b"<LoginName>coord001</LoginName>" in xml
    assert b"coord002" not in xml and b"inv002" not in xml
