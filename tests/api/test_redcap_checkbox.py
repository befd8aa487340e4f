"""The multi-choice lists of the forms (the screening's failed criteria and the criteria named
when it is closed) are REDCap checkbox fields: one `field___code` column per criterion;
raw 1/0, labels Checked/Unchecked, and with exportCheckboxLabel the criterion's label when
checked (blank when not) — as REDCap exports them."""

import csv
import io
import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

COLUMN = "closed_reason_codes___ex1"


def _post(token, **data):
    r = Client().post("/api/", {"token": token, **data})
    body = b"".join(r.streaming_content) if r.streaming else r.content
    return r.status_code, body.decode()


def _ex1_title():
    from eligibility.rules import CRITERIA

    return next(str(title) for code, title, _run in CRITERIA if code == "EX1")


@pytest.fixture
def marked(study):
    """001-0001's screening with EX1 among its closing criteria. No service writes a criterion
    onto a randomized patient's screening, so the test sets the stored list directly: the
    export must show what is stored."""
    from eligibility.models import Screening
    from randomization.models import Allocation

    screening_id = Allocation.objects.get(subject__number="001-0001").screening_id
    Screening.objects.filter(pk=screening_id).update(closed_reason_codes=["EX1"])
    return study


def _v0(rows, number):
    return next(r for r in rows if r["subject_number"] == number and r["redcap_event_name"].startswith("v0"))


def test_metadata_and_export_field_names_describe_checkbox_fields(study, token_for):
    token = token_for("datamanager")
    meta = {m["field_name"]: m for m in json.loads(_post(token, content="metadata", format="json")[1])}
    for name in ("closed_reason_codes", "verdict_failed"):
        assert meta[name]["field_type"] == "checkbox"
        assert f"EX1, {_ex1_title()}" in meta[name]["select_choices_or_calculations"].split(" | ")
    names = json.loads(_post(token, content="exportFieldNames", format="json", field="closed_reason_codes")[1])
    assert {"original_field_name": "closed_reason_codes", "choice_value": "EX1", "export_field_name": COLUMN} in names
    assert all(n["export_field_name"].startswith("closed_reason_codes___") for n in names)


def test_checkbox_values_raw_label_and_export_checkbox_label(marked, token_for):
    token = token_for("datamanager")
    fields = {"fields": "subject_number,closed_reason_codes", "records": "001-0001,001-0002"}
    raw = json.loads(_post(token, content="record", format="json", **fields)[1])
    assert (_v0(raw, "001-0001")[COLUMN], _v0(raw, "001-0002")[COLUMN]) == ("1", "0")
    assert "closed_reason_codes" not in raw[0]
    # the raw CSV (written by PostgreSQL) carries the same cells
    table = list(csv.DictReader(io.StringIO(_post(token, content="record", format="csv", **fields)[1])))
    assert (_v0(table, "001-0001")[COLUMN], _v0(table, "001-0002")[COLUMN]) == ("1", "0")
    labels = json.loads(_post(token, content="record", format="json", rawOrLabel="label", **fields)[1])
    labels = [dict(r, redcap_event_name="v0" if r["redcap_event_name"].startswith("V0") else "x") for r in labels]
    assert (_v0(labels, "001-0001")[COLUMN], _v0(labels, "001-0002")[COLUMN]) == ("Checked", "Unchecked")
    boxes = json.loads(_post(token, content="record", format="json", rawOrLabel="label", exportCheckboxLabel="true",
                             **fields)[1])
    boxes = [dict(r, redcap_event_name="v0" if r["redcap_event_name"].startswith("V0") else "x") for r in boxes]
    assert (_v0(boxes, "001-0001")[COLUMN], _v0(boxes, "001-0002")[COLUMN]) == (_ex1_title(), "")
    # exportCheckboxLabel changes nothing in raw exports (REDCap: labels only)
    assert json.loads(_post(token, content="record", format="json", exportCheckboxLabel="true", **fields)[1]) == raw
    code, header = _post(token, content="record", format="csv", rawOrLabelHeaders="label", **fields)
    assert f"(choice={_ex1_title()})" in header.splitlines()[0]
    eav = json.loads(_post(token, content="record", format="json", type="eav", **fields)[1])
    assert {"record": "001-0001", "field_name": "closed_reason_codes", "value": "EX1"}.items() <= \
        next(r for r in eav if r["field_name"] == "closed_reason_codes").items()
    assert [r["record"] for r in eav if r["field_name"] == "closed_reason_codes"] == ["001-0001"]


def test_checkbox_columns_imported_back_unchanged_or_refused(marked, token_for):
    token = token_for("coord001")
    row = {"subject_number": "001-0001", "redcap_event_name": "v0_arm_1", COLUMN: "1",
           "closed_reason_codes___in1": "0"}
    code, body = _post(token, content="record", format="json", data=json.dumps([row]), reason="as exported")
    assert (code, json.loads(body)) == (200, {"count": 1})
    code, body = _post(token, content="record", format="json", data=json.dumps([{**row, COLUMN: "0"}]),
                       reason="x")
    refused = json.loads(body)
    assert code == 400 and refused["fields"][0]["field"] == COLUMN and "read-only" in refused["fields"][0]["rule"]


def test_pycap_exports_checkbox_labels(marked, token_for, live_server):
    from redcap import Project

    proj = Project(f"{live_server.url}/api/", token_for("datamanager"))
    rows = proj.export_records(records=["001-0001"], fields=["subject_number", "closed_reason_codes"],
                               raw_or_label="label", export_checkbox_labels=True)
    v0 = next(r for r in rows if r["redcap_event_name"].startswith("V0"))
    assert v0[COLUMN] == _ex1_title() and v0["closed_reason_codes___in1"] == ""
