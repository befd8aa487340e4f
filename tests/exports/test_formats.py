"""Every export format: validity (ODM against the official XSD), round trips (XPT/DTA/SAV read
back with pyreadstat: values, variable labels, value labels), CSV encoding and the data
dictionary."""

import csv
import io
import zipfile
import zoneinfo

import pyreadstat
import pytest
from lxml import etree

from tests.exports.conftest import REFUSAL_TEXT

pytestmark = pytest.mark.django_db

ODM_NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def _csv(bundle: zipfile.ZipFile, name: str) -> list[dict]:
    raw = bundle.read(name)
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _extract(bundle: zipfile.ZipFile, name: str, tmp_path):
    target = tmp_path / name.replace("/", "_")
    target.write_bytes(bundle.read(name))
    return str(target)


def test_odm_export_of_seeded_study_validates_against_the_odm_132_schema(study, personas, run_export, tmp_path):
    from exports.formats.odm import validate

    export = run_export(personas["datamanager"], ["odm"])
    bundle = zipfile.ZipFile(export.path)
    path = _extract(bundle, "odm/angel_rescue.xml", tmp_path)
    validate(path)  # raises DocumentInvalid with the schema's message

    doc = etree.parse(path)
    keys = doc.xpath("//odm:SubjectData/@SubjectKey", namespaces=ODM_NS)
    subjects = sorted(s.number for s in study["subjects"])
    assert sorted(k for k in keys if "-S" not in k) == subjects
    # Screened patients who were never randomized keep their screening number.
    assert len([k for k in keys if "-S" in k]) == 6
    assert doc.xpath("count(//odm:ItemDef)", namespaces=ODM_NS) > 30
    assert doc.xpath("//odm:CodeList[@OID='CL.SCREENING.SEX']/odm:CodeListItem/@CodedValue",
                     namespaces=ODM_NS) == ["female", "male"]
    assert doc.xpath("//odm:MeasurementUnit/@Name", namespaces=ODM_NS)
    assert REFUSAL_TEXT in doc.xpath("//odm:ItemData[@ItemOID='I.SCREENING.CLOSED_REASON_TEXT']/@Value",
                                     namespaces=ODM_NS)
    # Every value of a tracked form carries its audit record (who, where, when, why).
    coord = personas["coord001"]
    screening_items = doc.xpath("//odm:FormData[@FormOID='F.SCREENING']//odm:ItemData",
                                namespaces=ODM_NS)
    assert screening_items and all(i.find("odm:AuditRecord", ODM_NS) is not None
                                   for i in screening_items)
    audit_users = doc.xpath("//odm:ItemData/odm:AuditRecord/odm:UserRef/@UserOID", namespaces=ODM_NS)
    assert f"USR.{coord.pk}" in audit_users or f"USR.{personas['inv001'].pk}" in audit_users
    reasons = doc.xpath("//odm:ItemData/odm:AuditRecord/odm:ReasonForChange", namespaces=ODM_NS)
    assert reasons and all(r.text for r in reasons)


def test_odm_schema_rejects_a_broken_document(tmp_path):
    """The validation can fail: the same schema refuses an ODM without its required FileOID."""
    from exports.formats.odm import validate

    bad = tmp_path / "bad.xml"
    bad.write_text('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" '
                   'CreationDateTime="2026-01-01T00:00:00"/>')
    with pytest.raises(etree.DocumentInvalid):
        validate(bad)


def test_csv_has_one_table_per_form_with_keys_and_chinese_text_intact(study, personas, run_export):
    export = run_export(personas["datamanager"], ["csv"])
    bundle = zipfile.ZipFile(export.path)
    rows = _csv(bundle, "csv/screening.csv")
    assert len(rows) == len(study["screenings"])
    assert {r["site"] for r in rows} == {"001", "002"}
    assert {r["visit"] for r in rows} == {"V0"}
    randomized = [r for r in rows if r["outcome"] == "randomized"]
    assert sorted(r["subject_number"] for r in randomized) == sorted(s.number for s in study["subjects"])
    assert REFUSAL_TEXT in {r["closed_reason_text"] for r in rows}
    assert all(r["last_known_well"].endswith("Z") for r in rows)  # ISO 8601, UTC
    analysis = _csv(bundle, "csv/analysis.csv")
    assert [r["subject_number"] for r in analysis] == sorted(s.number for s in study["subjects"])
    assert {r["baseline_age_years"] for r in analysis} == {"55", "66", "77"}
    assert export.row_counts["csv"]["SCREENING"] == len(study["screenings"])


def test_data_dictionary_lists_every_exported_variable_with_label_type_unit_and_values(study, personas, run_export):
    export = run_export(personas["datamanager"], ["csv"])
    bundle = zipfile.ZipFile(export.path)
    dictionary = _csv(bundle, "dictionary.csv")
    listed = {(d["table"], d["variable"]) for d in dictionary}
    for name in bundle.namelist():
        if name.startswith("csv/"):
            table = name.removeprefix("csv/").removesuffix(".csv")
            header = next(csv.reader(io.StringIO(bundle.read(name).decode("utf-8-sig"))))
            assert {(table, h) for h in header} <= listed, table
    by_name = {(d["table"], d["variable"]): d for d in dictionary}
    platelets = by_name[("screening", "platelets")]
    assert platelets["unit"] == "×10⁹/L" and platelets["type"] == "decimal"
    sex = by_name[("screening", "sex")]
    assert sex["allowed_values"] == "female = Female; male = Male"
    assert sex["statistical_coding"] == "1 = Female; 2 = Male"
    assert sex["form"] == "SCREENING" and sex["visit"] == "V0"


@pytest.mark.parametrize("fmt", ["dta", "sav"])  # XPT: tests/exports/test_submission.py
def test_statistical_files_round_trip_values_and_labels(fmt, study, personas, run_export, tmp_path):
    export = run_export(personas["datamanager"], [fmt])
    bundle = zipfile.ZipFile(export.path)
    reader = {"xpt": pyreadstat.read_xport, "dta": pyreadstat.read_dta, "sav": pyreadstat.read_sav}[fmt]
    df, meta = reader(_extract(bundle, f"{fmt}/screening.{fmt}", tmp_path))
    csv_rows = {r["number"]: r for r in _csv(zipfile.ZipFile(run_export(
        personas["datamanager"], ["csv"]).path), "csv/screening.csv")}
    assert len(df) == len(csv_rows)
    for _, row in df.iterrows():
        original = csv_rows[row["number"]]
        assert row["site"] == original["site"]
        assert row["subject_number"] == original["subject_number"]
        assert int(row["age_years"]) == int(original["age_years"])
        assert row["closed_reason_text"] == original["closed_reason_text"]
        assert float(row["platelets"]) == float(original["platelets"])
        assert int(row["evt_intended"]) == int(original["evt_intended"])
        # text codes become 1…n in choice order
        assert int(row["sex"]) == {"female": 1, "male": 2}[original["sex"]]
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["age_years"] == "Age (years)"
    assert labels["platelets"].startswith("Platelets (×10⁹/L)") or fmt == "xpt"
    assert "UTC" in labels["last_known_well"]
    if fmt == "xpt":
        # Value labels travel as SAS formats: the variable names its format, the CNTLIN data
        # set beside it defines the labels.
        sex_format = meta.original_variable_types["sex"].rstrip(".")
        formats, _ = pyreadstat.read_xport(_extract(bundle, "xpt/formats.xpt", tmp_path))
        sex_labels = {int(r.START): r.LABEL for r in formats.itertuples() if r.FMTNAME == sex_format}
        assert sex_labels == {1: "Female", 2: "Male"}
        assert f"value {sex_format}" in bundle.read("xpt/formats.sas").decode()
    else:
        assert meta.variable_value_labels["sex"] == {1: "Female", 2: "Male"}
        assert meta.variable_value_labels["evt_intended"] == {0: "No", 1: "Yes"}
        assert meta.variable_value_labels["occlusion_site"][2] == "MCA M1"
    analysis, ameta = reader(_extract(bundle, f"{fmt}/analysis.{fmt}", tmp_path))
    assert sorted(analysis["subject_number"]) == sorted(s.number for s in study["subjects"])


def test_zip_bundle_holds_every_chosen_format_and_a_readme_with_checksums(study, personas, run_export):
    from exports.runner import sha256_of

    export = run_export(personas["datamanager"], ["csv", "odm", "xpt", "dta", "sav"])
    bundle = zipfile.ZipFile(export.path)
    names = set(bundle.namelist())
    assert {"README.txt", "dictionary.csv", "csv/screening.csv", "csv/analysis.csv",
            "odm/angel_rescue.xml", "xpt/screening.xpt", "xpt/formats.sas", "dta/screening.dta",
            "sav/screening.sav"} <= names
    readme = bundle.read("README.txt").decode()
    assert "Blinded: yes" in readme and "datamanager" in readme
    assert export.sha256 == sha256_of(export.path)


def test_analysis_table_derives_day90_mrs_death_and_sich(study, personas, run_export):
    from django.utils import timezone

    export = run_export(personas["datamanager"], ["csv"])
    rows = {r["subject_number"]: r for r in _csv(zipfile.ZipFile(export.path), "csv/analysis.csv")}
    assessed, died, withdrew, sich, lost, nothing = (rows[s.number] for s in study["subjects"])
    assert (assessed["mrs_day90"], assessed["mrs_day90_0_2"], assessed["death"]) == ("2", "1", "0")
    # A death recorded anywhere makes the day-90 mRS 6 (SPEC §6).
    assert (died["mrs_day90"], died["mrs_day90_0_2"], died["death"]) == ("6", "0", "1")
    assert died["death_date"] == timezone.localdate(timezone=zoneinfo.ZoneInfo("Asia/Shanghai")).isoformat()
    assert (withdrew["subject_status"], withdrew["mrs_day90"], withdrew["mrs_day90_0_2"]) == ("withdrawn", "", "")
    assert lost["subject_status"] == "lost"
    assert (sich["sich_heidelberg"], nothing["sich_heidelberg"]) == ("1", "")
    assert nothing["death"] == "0"
