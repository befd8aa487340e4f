"""REDCap request parameters: both list styles, formats, labels, date range, errors."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _post(token, **data):
    r = Client().post("/api/", {"token": token, **data})
    body = b"".join(r.streaming_content) if r.streaming else r.content
    return r.status_code, body.decode()


def test_indexed_and_comma_separated_filters_agree(study, token_for):
    token = token_for("statistician")
    indexed = _post(token, content="record", format="json", **{"records[0]": "001-0001", "records[1]": "002-0001",
                                                                  "fields[0]": "subject_number", "fields[1]": "mrs",
                                                                  "forms[0]": "death", "events[0]": "v5_arm_1",
                                                                  "events[1]": "events_arm_1"})
    comma = _post(token, content="record", format="json", records="001-0001,002-0001",
                  fields="subject_number,mrs", forms="death", events="v5_arm_1,events_arm_1")
    assert indexed == comma and indexed[0] == 200
    rows = json.loads(indexed[1])
    assert {r["subject_number"] for r in rows} == {"001-0001", "002-0001"}
    assert set(rows[0]) == {"subject_number", "redcap_event_name", "redcap_repeat_instrument",
                            "redcap_repeat_instance", "mrs", "died_on", "cause", "cause_text", "autopsy",
                            "death_complete", "death_created_at", "death_created_by", "death_updated_at",
                            "death_updated_by"}


def test_xml_label_headers_and_eav(study, token_for):
    token = token_for("datamanager")
    code, body = _post(token, content="record", format="xml", records="001-0001", fields="mrs")
    assert code == 200
    items = ET.fromstring(body).findall("item")
    assert any(i.findtext("mrs") == "2" for i in items)
    code, body = _post(token, content="record", format="csv", records="001-0001", fields="sex,mrs",
                       rawOrLabel="label", rawOrLabelHeaders="label")
    reader = list(csv.reader(io.StringIO(body)))
    assert reader[0][:2] == ["Subject number", "Event Name"] and "Sex" in reader[0]
    assert any("Female" in row for row in reader[1:])
    code, body = _post(token, content="metadata", format="xml")
    assert ET.fromstring(body).find("item/field_name").text == "subject_number"


def test_date_range_selects_records_changed_in_it(study, token_for):
    token = token_for("datamanager")
    _code, everything = _post(token, content="record", format="json", fields="subject_number")
    assert len({r["subject_number"] for r in json.loads(everything)}) == 6
    _code, future = _post(token, content="record", format="json", dateRangeBegin="2999-01-01 00:00:00")
    assert json.loads(future) == []
    _code, past = _post(token, content="record", format="json", fields="subject_number",
                        dateRangeBegin="2000-01-01 00:00:00", dateRangeEnd="2999-12-31 23:59:59")
    assert len({r["subject_number"] for r in json.loads(past)}) == 6
    code, body = _post(token, content="record", format="json", dateRangeBegin="yesterday")
    assert code == 400 and "dateRangeBegin" in json.loads(body)["error"]


def test_errors_look_like_redcap(study, token_for):
    token = token_for("datamanager")
    code, body = _post(token, content="record", format="json", fields="nonsense,mrs")
    assert code == 400 and json.loads(body) == {
        "error": "The following values in the parameter \"fields\" are not valid: 'nonsense'"}
    code, body = _post(token, content="record", format="csv", forms="nope")
    assert code == 400 and body.startswith("ERROR: ")
    code, body = _post(token, content="file", format="xml")
    assert code == 400 and "<error>" in body
    code, body = _post(token, content="record", format="json", type="wide")
    assert code == 400 and "type" in json.loads(body)["error"]
    assert _post("", content="version")[0] == 401
    # a user with no subject access at all (the administrator)
    code, body = _post(token_for("admin"), content="metadata", format="json")
    assert code == 403 and "error" in json.loads(body)
