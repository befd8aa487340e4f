"""Submission-grade exports (issue 13): SAS transport V5 opened by pandas, pyreadstat and the
`xport` package with the values of the CSV; stable SAS names; the randomization in every
unblinded export and in none blinded; the complete ODM audit trail, valid against the official
XSD in ../shared/odm-1.3.2/; declared units; stable types; Dataset-JSON v1.1 against the
published schema; Define-XML 2.1 read by odmlib."""

import csv
import datetime as dt
import io
import json
import math
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from lxml import etree

from tests.exports.conftest import REFUSAL_TEXT

pytestmark = pytest.mark.django_db

ODM = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
REPO = Path(__file__).resolve().parents[2]


def _shared() -> Path:
    """../shared/ beside the repository (in a git worktree: beside its main checkout)."""
    here = REPO / ".." / "shared"
    if here.exists():
        return here
    common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=REPO, text=True,
                            capture_output=True).stdout.strip()
    return (REPO / common).resolve().parent / ".." / "shared"


SHARED_ODM_XSD = _shared() / "odm-1.3.2" / "ODM1-3-2.xsd"
SAS_DATE0 = dt.date(1960, 1, 1)
SAS_DT0 = dt.datetime(1960, 1, 1)
# More than 200 bytes (five pieces of 200 bytes in XPT) and no blank where a piece ends.
LONG_TEXT = "患者家属经过充分讨论后拒绝参加本研究" * 15  # 270 characters, 810 bytes
ARM_TEXTS = ("STENTING", "CONTINUED_MT", "Stenting or angioplasty", "Continued thrombectomy")


def _csv(bundle, name):
    return list(csv.DictReader(io.StringIO(bundle.read(name).decode("utf-8-sig"))))


def _extract(bundle, name, tmp_path) -> str:
    target = tmp_path / name.replace("/", "_")
    target.write_bytes(bundle.read(name))
    return str(target)


def _columns(blinded: bool):
    """The dictionary's Column objects of every table (exports.columns / exports.analysis)."""
    from exports.analysis import analysis_columns
    from exports.columns import tables
    from exports.dataset import Scope

    out = {t.code: list(t.columns) for t in tables(blinded=blinded)}
    out["ANALYSIS"] = analysis_columns(Scope(blinded=blinded, site_ids=()))
    return out


def _long_text_screening(personas, sites):
    from eligibility.services import screening_close
    from tests.factories import make_screening

    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    return screening_close(screening=s, user=personas["coord001"], reason="other", text=LONG_TEXT)


def _pandas_xpt(path: str) -> pd.DataFrame:
    with pd.read_sas(path, format="xport", encoding="utf-8", iterator=True) as reader:
        if reader.nobs == 0:  # pandas' read() raises StopIteration on an empty data set
            return pd.DataFrame(columns=[f.decode() if isinstance(f, bytes) else f
                                         for f in reader.columns])
        return reader.read()


def _expected_number(c, text: str):
    """The SAS value of a CSV cell of column `c` (None = missing)."""
    from exports.formats.stat_coding import is_numeric, stat_labels

    if text == "":
        return None
    if c.kind == "date":
        return float((dt.date.fromisoformat(text) - SAS_DATE0).days)
    if c.kind == "datetime":
        return (dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ") - SAS_DT0).total_seconds()
    assert is_numeric(c)
    if c.choices and not all(isinstance(k, int) for k, _ in c.choices):
        codes = [str(k) for k, _ in c.choices]
        assert stat_labels(c)[codes.index(text) + 1]
        return float(codes.index(text) + 1)
    return float(text)


def _as_number(v):
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, dt.datetime):
        return (v - SAS_DT0).total_seconds()
    if isinstance(v, dt.date):
        return float((v - SAS_DATE0).days)
    if isinstance(v, pd.Timestamp):
        return (v.to_pydatetime() - SAS_DT0).total_seconds()
    v = float(v)
    return None if math.isnan(v) else v


def _same_number(got, want) -> bool:
    if want is None:
        return got is None
    # pandas.read_sas decodes the IBM zero as 5.4e-79 (a pandas quirk; SAS, pyreadstat and
    # xport read 0): equal within 1e-70.
    return got is not None and math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-70)


def test_every_xpt_is_sas_v5_opened_by_pandas_pyreadstat_and_xport_with_the_csv_values(
        study, personas, sites, run_export, tmp_path):
    import xport

    from exports import metadata
    from exports.formats.stat_coding import is_numeric

    _long_text_screening(personas, sites)
    export = run_export(personas["statistician"], ["csv", "xpt"], blinded=False)
    bundle = zipfile.ZipFile(export.path)
    dictionary = _csv(bundle, "dictionary.csv")
    sas_names = {(d["table"], d["variable"]): d["sas_name"].split() for d in dictionary}
    checked_tables = 0
    for code, columns in _columns(blinded=False).items():
        name = "analysis" if code == "ANALYSIS" else code.lower()
        rows = _csv(bundle, f"csv/{name}.csv")
        path = _extract(bundle, f"xpt/{name}.xpt", tmp_path)
        raw = Path(path).read_bytes()
        assert raw.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000"), name
        assert len(raw) % 80 == 0
        by_pandas = _pandas_xpt(path)
        by_readstat, meta = pyreadstat.read_xport(path, encoding="utf-8")
        with open(path, "rb") as fh:
            by_xport = list(xport.Reader(fh))
        assert meta.table_name == metadata.dataset_name(code)
        assert len(by_pandas) == len(by_readstat) == len(by_xport) == len(rows), name
        positions = {n: i for i, n in enumerate(meta.column_names)}
        for c in columns:
            names = sas_names[(code.lower(), c.name)]
            for r, row in enumerate(rows):
                text = row[c.name]
                if is_numeric(c) or c.kind in ("date", "datetime"):
                    want = _expected_number(c, text)
                    got = [_as_number(by_pandas.iloc[r][names[0]]),
                           _as_number(by_readstat.iloc[r][names[0]]),
                           _as_number(by_xport[r][positions[names[0]]])]
                    assert all(_same_number(g, want) for g in got), (name, c.name, r, text, got)
                else:
                    pieces = [[by_pandas.iloc[r][n] for n in names],
                              [by_readstat.iloc[r][n] for n in names],
                              # xport 2.x decodes text as Latin-1: back to the UTF-8 bytes
                              [by_xport[r][positions[n]].encode("latin-1").decode("utf-8")
                               for n in names]]
                    for reader_pieces in pieces:
                        joined = "".join("" if p is None or (isinstance(p, float) and math.isnan(p))
                                         else p for p in reader_pieces)
                        assert joined == text.rstrip(" "), (name, c.name, r)
        checked_tables += 1
    assert checked_tables >= 12
    readme = bundle.read("xpt/README.txt").decode()
    assert "SCREEN.closed_reason_text: CLSRSTX + CLSRSTX1 + CLSRSTX2 + CLSRSTX3 + CLSRSTX4" in readme
    assert metadata.TIME_CONVENTION in readme
    # formats.xpt (the CNTLIN data set) is V5 too.
    formats = pd.read_sas(_extract(bundle, "xpt/formats.xpt", tmp_path), format="xport", encoding="utf-8")
    assert {"FMTNAME", "START", "LABEL"} <= set(formats.columns)


def _xpt_layout(bundle, tmp_path) -> dict:
    out = {}
    for name in sorted(n for n in bundle.namelist() if n.startswith("xpt/") and n.endswith(".xpt")
                       and n != "xpt/formats.xpt"):
        _df, meta = pyreadstat.read_xport(_extract(bundle, name, tmp_path), encoding="utf-8",
                                          metadataonly=True)
        out[name] = (meta.table_name, tuple(meta.column_names), tuple(meta.column_labels),
                     tuple(meta.original_variable_types.items()))
    return out


def test_sas_names_are_short_unique_from_the_dictionary_and_stable_across_exports_with_different_data(
        study, personas, sites, run_export, tmp_path):
    first = zipfile.ZipFile(run_export(personas["datamanager"], ["xpt"]).path)
    (tmp_path / "a").mkdir()
    before = _xpt_layout(first, tmp_path / "a")
    # Different data: long free text, a new screening, a follow-up form.
    _long_text_screening(personas, sites)
    from followup import services as fu

    fu.visit24h_save(subject=study["subjects"][5], user=personas["coord002"],
                     data={"nihss_i1a": 1}, version=None)
    second = zipfile.ZipFile(run_export(personas["datamanager"], ["xpt"]).path)
    (tmp_path / "b").mkdir()
    after = _xpt_layout(second, tmp_path / "b")
    assert before == after
    dictionary = _csv(first, "dictionary.csv")
    for table, columns, labels, _types in before.values():
        assert 1 <= len(table) <= 8 and table == table.upper()
        assert len(set(columns)) == len(columns)
        assert all(1 <= len(c) <= 8 and c == c.upper() for c in columns), columns
        assert all(len(label.encode("utf-8")) <= 40 for label in labels)
    listed = [n for d in dictionary for n in d["sas_name"].split()]
    xpt_names = {c for (_t, cols, _l, _ty) in before.values() for c in cols}
    assert xpt_names <= set(listed)
    # Labels are cut at a word, the full label stays in the dictionary.
    cut = [d for d in dictionary if d["sas_label"] != d["label"] and len(d["label"].encode()) > 40]
    assert cut
    for d in cut:
        full = d["label"] if d["type"] != "datetime" else d["label"] + " (UTC)"
        short = d["sas_label"]
        assert len(short.encode()) <= 40
        rest = full[len(short):] if full.startswith(short) else None
        assert rest is not None and (rest == "" or rest[0] in " ,;:(–-"), (full, short)


def test_unblinded_exports_carry_the_randomization_odm_validates_and_blinded_ones_carry_none(
        study, personas, run_export, tmp_path):
    from exports.formats.odm import validate

    assert SHARED_ODM_XSD.exists(), "the official ODM 1.3.2 schema is expected in ../shared/"
    schema = etree.XMLSchema(etree.parse(str(SHARED_ODM_XSD)))
    everything = ["csv", "odm", "xpt", "dta", "sav", "datasetjson", "define"]
    unblinded = zipfile.ZipFile(run_export(personas["statistician"], everything, blinded=False).path)
    path = _extract(unblinded, "odm/angel_rescue.xml", tmp_path)
    doc = etree.parse(path)
    schema.assertValid(doc)
    validate(path)
    assert doc.xpath("//odm:ItemGroupDef[@OID='IG.RANDOMIZATION']", namespaces=ODM)
    assert doc.xpath("//odm:CodeList[@OID='CL.RANDOMIZATION.ARM']/odm:CodeListItem/@CodedValue",
                     namespaces=ODM) == ["STENTING", "CONTINUED_MT"]
    for allocation in study["allocations"]:
        subject = doc.xpath(f"//odm:SubjectData[@SubjectKey='{allocation.subject.number}']",
                            namespaces=ODM)[0]
        group = subject.xpath(".//odm:ItemGroupData[@ItemGroupOID='IG.RANDOMIZATION']", namespaces=ODM)[0]
        values = {i.get("ItemOID"): i.get("Value") for i in group.xpath("odm:ItemData", namespaces=ODM)}
        assert values["I.RANDOMIZATION.ARM"] == allocation.arm
        assert values["I.RANDOMIZATION.STRATUM"] == allocation.stratum
        assert values["I.RANDOMIZATION.LIST_SEQUENCE"] == str(allocation.entry.sequence)
        assert values["I.RANDOMIZATION.RANDOMIZED_AT"] == \
            allocation.randomized_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # SASFieldNames unique within every item group.
    for group in doc.xpath("//odm:ItemGroupDef", namespaces=ODM):
        oids = group.xpath("odm:ItemRef/@ItemOID", namespaces=ODM)
        names = [doc.xpath(f"//odm:ItemDef[@OID='{o}']/@SASFieldName", namespaces=ODM)[0] for o in oids]
        assert len(set(names)) == len(names), group.get("OID")
    analysis = {r["subject_number"]: r for r in _csv(unblinded, "csv/analysis.csv")}
    for allocation in study["allocations"]:
        row = analysis[allocation.subject.number]
        assert (row["arm"], row["stratum"], row["list_sequence"]) == (
            allocation.arm, allocation.stratum, str(allocation.entry.sequence))
    assert {"csv/randomization.csv", "xpt/randomization.xpt",
            "datasetjson/randomization.json", "dta/randomization.dta"} <= set(unblinded.namelist())

    blinded = zipfile.ZipFile(run_export(personas["datamanager"], everything).path)
    (tmp_path / "blinded").mkdir()
    schema.assertValid(etree.parse(_extract(blinded, "odm/angel_rescue.xml", tmp_path / "blinded")))
    for name in blinded.namelist():
        data = blinded.read(name)
        for text in (*ARM_TEXTS, "RANDOMIZATION", "IG.RANDOMIZATION"):
            assert text.encode() not in data, (name, text)
    assert not [n for n in blinded.namelist() if "randomization" in n]


def test_odm_audit_trail_lists_every_version_of_an_edited_item(study, personas, run_export, tmp_path):
    from followup import services as fu

    subject = study["subjects"][5]
    fu.visit24h_save(subject=subject, user=personas["coord002"], data={"nihss_i1a": 0}, version=None)
    fu.visit24h_save(subject=subject, user=personas["inv002"], data={"nihss_i1a": 2}, version=1,
                     reason="re-examined by the investigator")
    fu.visit24h_save(subject=subject, user=personas["coord002"], data={"nihss_i1a": 1}, version=2,
                     reason="transcription error corrected")
    bundle = zipfile.ZipFile(run_export(personas["datamanager"], ["odm"]).path)
    path = _extract(bundle, "odm/angel_rescue.xml", tmp_path)
    doc = etree.parse(path)
    etree.XMLSchema(etree.parse(str(SHARED_ODM_XSD))).assertValid(doc)
    assert doc.getroot().get("FileType") == "Transactional"
    items = doc.xpath(f"//odm:SubjectData[@SubjectKey='{subject.number}']//odm:FormData[@FormOID='F.V2_24H']"
                      "//odm:ItemData[@ItemOID='I.V2_24H.NIHSS_I1A']", namespaces=ODM)
    versions = [(i.get("TransactionType"), i.get("Value"),
                 i.findtext("odm:AuditRecord/odm:UserRef", namespaces=ODM),
                 i.find("odm:AuditRecord/odm:UserRef", ODM).get("UserOID"),
                 i.findtext("odm:AuditRecord/odm:ReasonForChange", namespaces=ODM),
                 i.findtext("odm:Annotation/odm:Comment", namespaces=ODM)) for i in items]
    coord, inv = personas["coord002"].pk, personas["inv002"].pk
    assert [(t, v, u, r, old) for t, v, _x, u, r, old in versions] == [
        ("Insert", "0", f"USR.{coord}", "initial entry", None),
        ("Update", "2", f"USR.{inv}", "re-examined by the investigator", "Previous value: 0"),
        ("Update", "1", f"USR.{coord}", "transcription error corrected", "Previous value: 2"),
    ]
    stamps = [i.findtext("odm:AuditRecord/odm:DateTimeStamp", namespaces=ODM) for i in items]
    assert stamps == sorted(stamps) and all(s.endswith("Z") and "." not in s for s in stamps)


def test_no_unit_is_parsed_from_a_label_every_unit_is_declared(study, personas, run_export, tmp_path):
    from exports import metadata

    declared = set(metadata.UNITS.values())
    seen = {}
    for code, columns in _columns(blinded=False).items():
        for c in columns:
            seen[(code, c.name)] = c.unit
            if c.unit:
                assert (code, c.name) in metadata.UNITS, (code, c.name, c.unit)
    # Labels ending in parentheses that are no units (the old parser took them).
    for key in [("AE", "serious"), ("V3_48H", "hb_2"), ("V2_24H", "nihss_i1b"),
                ("V2_24H", "nihss_i5a_un"), ("V3_48H", "major_intervention_other"),
                ("V1_PROCEDURE", "balloon_device"), ("DEATH", "cause_text")]:
        assert seen[key] == "", key
    assert seen[("SCREENING", "platelets")] == "×10⁹/L"
    assert seen[("V1_PROCEDURE", "stent_length_mm")] == "mm"
    bundle = zipfile.ZipFile(run_export(personas["datamanager"], ["odm"]).path)
    doc = etree.parse(_extract(bundle, "odm/angel_rescue.xml", tmp_path))
    assert set(doc.xpath("//odm:MeasurementUnit/@Name", namespaces=ODM)) <= declared
    # Full ranges: both limits.
    by_name = {(d["table"], d["variable"]): d for d in _csv(bundle, "dictionary.csv")}
    assert (by_name[("screening", "age_years")]["minimum"], by_name[("screening", "age_years")]["maximum"]) == ("0", "120")
    assert by_name[("screening", "nihss_baseline")]["allowed_values"] == "0–42"
    assert by_name[("screening", "platelets")]["maximum"] == "2000"
    checks = doc.xpath("//odm:ItemDef[@OID='I.SCREENING.ASPECTS']/odm:RangeCheck/@Comparator", namespaces=ODM)
    assert checks == ["GE", "LE"]
    # The coded "None" of the V3 major intervention has a real code.
    assert "none = None" in by_name[("v3_48h", "major_intervention")]["allowed_values"]
    v3 = {c.name: c for c in _columns(blinded=True)["V3_48H"]}
    codes = [code for code, _label in v3["major_intervention"].choices]
    assert "" not in codes and "none" in codes


def _types(bundle, fmt, tmp_path) -> dict:
    reader = {"xpt": pyreadstat.read_xport, "dta": pyreadstat.read_dta, "sav": pyreadstat.read_sav}[fmt]
    out = {}
    for name in sorted(n for n in bundle.namelist() if n.startswith(f"{fmt}/") and n.endswith(f".{fmt}")
                       and "formats" not in n):
        _df, meta = reader(_extract(bundle, name, tmp_path), metadataonly=True)
        out[name] = dict(meta.original_variable_types)
    return out


def test_types_do_not_depend_on_the_data_empty_date_columns_stay_dates(
        study, personas, sites, run_export, tmp_path):
    formats = ["xpt", "dta", "sav", "datasetjson"]
    full = zipfile.ZipFile(run_export(personas["datamanager"], formats).path)
    # Site 003 has no data at all: every table is empty.
    empty = zipfile.ZipFile(run_export(personas["datamanager"], formats, site_ids=[sites["003"].pk]).path)
    for fmt in ("xpt", "dta", "sav"):
        (tmp_path / fmt).mkdir()
        a, b = _types(full, fmt, tmp_path / fmt), _types(empty, fmt, tmp_path / fmt)
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].keys() == b[name].keys()
            for var, kind in a[name].items():
                # every variable, text included (widths: tests/exports/test_stat_writers.py)
                assert b[name][var] == kind, (fmt, name, var, kind, b[name][var])
    dta = _types(empty, "dta", tmp_path / "dta")
    sav = _types(empty, "sav", tmp_path / "sav")
    assert dta["dta/v4_day7.dta"]["assessed_on"] == "%td"
    assert sav["sav/v4_day7.sav"]["assessed_on"] == "DATE11"
    assert dta["dta/death.dta"]["died_on"] == "%td"
    assert sav["sav/death.sav"]["died_on"] == "DATE11"
    xpt = _types(empty, "xpt", tmp_path / "xpt")
    assert xpt["xpt/death.xpt"]["DIED_ON"] == "E8601DA10."
    assert _types(full, "xpt", tmp_path / "xpt")["xpt/death.xpt"]["DIED_ON"] == "E8601DA10."
    meta = json.loads(empty.read("datasetjson/death.json"))
    assert meta["records"] == 0
    assert {c["name"]: c["dataType"] for c in meta["columns"]}["died_on"] == "date"


def test_dataset_json_validates_against_the_published_schema_and_round_trips_to_the_csv_values(
        study, personas, run_export, tmp_path):
    import jsonschema

    from exports.formats.datasetjson import SCHEMA_PATH, validate

    assert (SCHEMA_PATH.parent / "LICENSE").exists()
    schema = json.loads(SCHEMA_PATH.read_text())
    bundle = zipfile.ZipFile(run_export(personas["statistician"], ["csv", "datasetjson"], blinded=False).path)
    columns = _columns(blinded=False)
    for code, cols in columns.items():
        name = "analysis" if code == "ANALYSIS" else code.lower()
        doc = json.loads(bundle.read(f"datasetjson/{name}.json"))
        jsonschema.validate(doc, schema)
        validate(_extract(bundle, f"datasetjson/{name}.json", tmp_path))
        rows = _csv(bundle, f"csv/{name}.csv")
        assert doc["datasetJSONVersion"].startswith("1.1")
        assert [c["name"] for c in doc["columns"]] == list(rows[0].keys() if rows else [c.name for c in cols])
        assert doc["records"] == len(doc["rows"]) == len(rows)
        kinds = [c.kind for c in cols]
        for got, want in zip(doc["rows"], rows, strict=True):
            for kind, value, (_n, text) in zip(kinds, got, want.items(), strict=True):
                if value is None:
                    assert text == "", (name, _n)
                elif kind == "json":
                    assert value == text  # the same JSON text (key order) as the CSV
                elif kind in ("integer", "boolean"):
                    assert value == int(text), (name, _n)
                elif kind == "float":
                    assert value == float(text)
                else:
                    assert value == text, (name, _n, value, text)
    screening = json.loads(bundle.read("datasetjson/screening.json"))
    assert REFUSAL_TEXT in {r[[c["name"] for c in screening["columns"]].index("closed_reason_text")]
                            for r in screening["rows"]}
    bad = dict(screening, datasetJSONVersion="2.0")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_define_xml_lists_every_exported_variable_and_odmlib_reads_it(study, personas, run_export, tmp_path):
    import odmlib.define_loader as OL
    import odmlib.loader as LD
    from odmlib.oid_generator import create_oid_checker

    bundle = zipfile.ZipFile(run_export(personas["statistician"], ["define"], blinded=False).path)
    path = _extract(bundle, "define/define.xml", tmp_path)
    loader = LD.ODMLoader(OL.XMLDefineLoader(model_package="define_2_1", ns_uri="http://www.cdisc.org/ns/def/v2.1"))
    loader.open_odm_document(path)
    odm = loader.load_odm()
    mdv = odm.Study.MetaDataVersion
    assert mdv.DefineVersion == "2.1.0"
    checker = create_oid_checker("define_2_1")
    mdv.verify_oids(checker)
    assert checker.check_oid_refs()
    items = {i.OID: i for i in mdv.ItemDef}
    listed = {(g.Name, items[r.ItemOID].Name) for g in mdv.ItemGroupDef for r in g.ItemRef}
    from exports import metadata

    dictionary = _csv(bundle, "dictionary.csv")
    expected = {(metadata.dataset_name(d["table"].upper()), d["variable"]) for d in dictionary}
    assert listed == expected
    for g in mdv.ItemGroupDef:
        sas = [items[r.ItemOID].SASFieldName for r in g.ItemRef]
        assert len(set(sas)) == len(sas) and all(len(s) <= 8 for s in sas)
    sas_by_var = {(metadata.dataset_name(d["table"].upper()), d["variable"]): d["sas_name"].split()[0]
                  for d in dictionary}
    assert all(sas_by_var[(g.Name, items[r.ItemOID].Name)] == items[r.ItemOID].SASFieldName
               for g in mdv.ItemGroupDef for r in g.ItemRef)
    codelists = {c.OID: [i.CodedValue for i in c.CodeListItem] for c in mdv.CodeList}
    assert "none" in codelists["CL.V3_48H.MAJOR_INTERVENTION"]
    assert codelists["CL.RANDOMIZATION.ARM"] == ["STENTING", "CONTINUED_MT"]


def test_export_data_command_and_export_center_offer_dataset_json_and_define(
        study, personas, settings, tmp_path):
    from django.core.management import call_command

    from exports.forms import ExportForm

    settings.EDC_EXPORT_DIR = tmp_path / "store"
    call_command("export_data", "--format", "datasetjson", "--output", str(tmp_path / "dj"),
                 "--user", "datamanager", stdout=io.StringIO())
    assert (tmp_path / "dj" / "screening.json").exists() and (tmp_path / "dj" / "analysis.json").exists()
    call_command("export_data", "--format", "define", "--output", str(tmp_path / "define.xml"),
                 "--user", "datamanager", stdout=io.StringIO())
    assert etree.parse(str(tmp_path / "define.xml")).getroot().get(
        "{http://www.cdisc.org/ns/def/v2.1}Context") == "Other"
    choices = dict(ExportForm(user=personas["statistician"]).fields["formats"].choices)
    assert {"datasetjson", "define"} <= set(choices)


def test_define_xml_carries_chinese_beside_english_for_every_description_and_decode(
        study, personas, run_export, tmp_path):
    import odmlib.define_loader as OL
    import odmlib.loader as LD

    bundle = zipfile.ZipFile(run_export(personas["statistician"], ["define"], blinded=False).path)
    path = _extract(bundle, "define/define.xml", tmp_path)
    doc = etree.parse(path)
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    owners = doc.xpath("//odm:ItemGroupDef/odm:Description | //odm:ItemDef/odm:Description"
                       " | //odm:CodeListItem/odm:Decode", namespaces=ODM)
    assert len(owners) > 400
    for owner in owners:
        texts = {t.get(lang): t.text for t in owner.xpath("odm:TranslatedText", namespaces=ODM)}
        assert set(texts) == {"en", "zh-Hans"} and all(texts.values()), etree.tostring(owner)

    def both(xpath):
        (owner,) = doc.xpath(xpath, namespaces=ODM)
        return {t.get(lang): t.text for t in owner.xpath("odm:TranslatedText", namespaces=ODM)}

    age = both("//odm:ItemDef[@OID='IT.SCREENING.AGE_YEARS']/odm:Description")
    assert age["en"] == "Age (years) Unit: years. Range: 0–120."
    assert age["zh-Hans"] == "年龄（岁） 单位：岁。 范围：0–120。"
    screening = both("//odm:ItemGroupDef[@OID='IG.SCREENING']/odm:Description")
    assert screening["en"].startswith("Screening") and screening["zh-Hans"] == "筛选 / 基线"
    assert both("//odm:ItemGroupDef[@OID='IG.ANALYSIS']/odm:Description")["zh-Hans"] == "分析表"
    assert both("//odm:CodeList[@OID='CL.SCREENING.SEX']/odm:CodeListItem[@CodedValue='female']"
                "/odm:Decode") == {"en": "Female", "zh-Hans": "女"}
    assert both("//odm:CodeList[@OID='CL.RANDOMIZATION.ARM']/odm:CodeListItem[@CodedValue='STENTING']"
                "/odm:Decode") == {"en": "Stenting or angioplasty", "zh-Hans": "支架置入或血管成形术"}
    randomized = both("//odm:ItemDef[@OID='IT.RANDOMIZATION.RANDOMIZED_AT']/odm:Description")
    assert randomized["zh-Hans"].endswith("UTC 时刻，ISO 8601 格式，精确到秒（…Z）。")
    # Still read by odmlib (Define-XML 2.1 model), both languages kept.
    loader = LD.ODMLoader(OL.XMLDefineLoader(model_package="define_2_1", ns_uri="http://www.cdisc.org/ns/def/v2.1"))
    loader.open_odm_document(path)
    mdv = loader.load_odm().Study.MetaDataVersion
    item = next(i for i in mdv.ItemDef if i.OID == "IT.SCREENING.AGE_YEARS")
    assert {t.lang: t._content for t in item.Description.TranslatedText} == age
