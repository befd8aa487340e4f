"""REDCap request parameters: both list styles, formats, labels, date range, errors."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    # 002-0001 has neither a day-90 nor a death form: no row in those events
    assert {r["subject_number"] for r in rows} == {"001-0001"}
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


def test_repeating_forms_are_repeating_instruments_and_import_reaches_the_right_instance(study, token_for, personas):
    from django.utils import timezone

    from followup import services as fu
    from followup.models import AdverseEvent

    subject = next(s for s in study["subjects"] if s.number == "002-0003")
    today = timezone.localdate(timezone=subject.site.tz)
    for term in ("headache", "fever"):
        fu.adverse_event_save(subject=subject, user=personas["coord002"], data={"term": term, "onset_on": today})
    token = token_for("coord002")
    code, body = _post(token, content="record", format="json", records="002-0003", forms="ae")
    rows = [r for r in json.loads(body) if r["redcap_repeat_instrument"] == "ae"]
    assert [(r["redcap_event_name"], r["redcap_repeat_instance"], r["term"]) for r in rows] == [
        ("events_arm_1", "1", "headache"), ("events_arm_1", "2", "fever")]
    change = [{"subject_number": "002-0003", "redcap_event_name": "events_arm_1",
               "redcap_repeat_instrument": "ae", "redcap_repeat_instance": "2", "term": "fever, resolved"}]
    code, body = _post(token, content="record", action="import", format="json", data=json.dumps(change),
                       reason="term corrected from the source")
    assert (code, json.loads(body)) == (200, {"count": 1})
    assert list(AdverseEvent.objects.filter(subject=subject).order_by("pk").values_list("term", flat=True)) == [
        "headache", "fever, resolved"]
    missing_instance = [{**change[0], "redcap_repeat_instrument": ""}]
    code, body = _post(token, content="record", format="json", data=json.dumps(missing_instance), reason="x")
    assert code == 400 and "redcap_repeat_instance" in json.loads(body)["error"]


@pytest.mark.parametrize("username", ["statistician", "assessor001", "coord002"])
def test_postgresql_written_csv_equals_the_row_by_row_writer(study, token_for, personas, username):
    """The raw flat CSV is written by COPY for speed; it must be byte for byte what the
    row-by-row writer (used for json, xml and labels) produces from the same selection."""
    from api.redcap import render
    from api.redcap.project import Project
    from api.redcap.records import RecordExport, Selection
    from followup.models import Procedure

    # cells the CSV must quote or neutralise: comma, quote, line breaks, a leading "=" / "-"
    Procedure.objects.filter(subject__number="001-0001").update(
        complication_notes='=1+2, "quoted"\nsecond line\r\nthird', balloon_device="-x, y",
        # only quoted; only neutralised; a plain negative number (neither)
        stent_device='Solitaire "X"', antithrombotic_dose="@5 mg", second_antithrombotic="-3.5",
        # a full-width trigger (a multi-byte first character) and a leading tab: neutralised
        antithrombotic_route="＠iv", final_etici="\t2b")
    token = token_for(username)
    for selection, params in [
        (Selection(), {}),
        (Selection(records=["001-0001", "002-0001", "002-0002"], fields=["subject_number", "mrs", "hb_2"],
                   events=["v3_arm_1", "v5_arm_1", "events_arm_1"]),
         {"records": "001-0001,002-0001,002-0002", "fields": "subject_number,mrs,hb_2",
          "events": "v3_arm_1,v5_arm_1,events_arm_1"}),
    ]:
        if username == "assessor001" and params:
            params = {"records": params["records"], "fields": "subject_number,mrs", "events": "v5_arm_1"}
            selection = Selection(records=selection.records, fields=["subject_number", "mrs"], events=["v5_arm_1"])
        code, body = _post(token, content="record", format="csv", **params)
        assert code == 200
        export = RecordExport(Project(personas[username]), selection)
        expected = "".join(render.csv_chunks(export.header, export.rows()))
        assert body == expected
        assert len(body.splitlines()) > 1
        if username == "statistician" and not params:
            assert '"\'=1+2, ""quoted""\nsecond line\r\nthird"' in body and ",\"'-x, y\"," in body
            assert ',"Solitaire ""X""",' in body and ",'@5 mg," in body and ",-3.5," in body
            assert ",'＠iv," in body and ",'\t2b," in body


def test_postgresql_written_csv_prints_dates_in_iso_whatever_the_servers_datestyle(study, token_for, personas):
    """Dates and instants of the COPY path are printed by PostgreSQL's ::text, which follows the
    session's DateStyle: the export sets ISO for its own statement."""
    import re

    from django.db import connection

    from api.redcap.copy import copy_chunks
    from api.redcap.project import Project
    from api.redcap.records import RecordExport, Selection

    code, iso = _post(token_for("statistician"), content="record", format="csv")
    assert code == 200 and re.search(r",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,", iso) and re.search(r",\d{4}-\d\d-\d\d,", iso)
    with connection.cursor() as cursor:
        cursor.execute("SET DateStyle = 'German, DMY'")
    try:
        body = b"".join(copy_chunks(RecordExport(Project(personas["statistician"]), Selection()))).decode()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET DateStyle = 'ISO, MDY'")
    assert body == iso


_ESCAPED_BY_COPY = list("\\\b\f\n\r\t\v") + ["\\n", "\\\\", "\\N", "\\."]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=st.lists(st.one_of(st.sampled_from(_ESCAPED_BY_COPY + list(',"=+-@＠ 中a1')),
                                st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
                      max_size=12).map("".join),
       device=st.lists(st.sampled_from(_ESCAPED_BY_COPY + list("ab,")), max_size=6).map("".join))
def test_copy_path_keeps_backslashes_and_control_characters(study, personas, notes, device):
    """The lines come through COPY's text format, which escapes a backslash and the control
    characters \\b \\f \\n \\r \\t \\v; whatever a free-text value holds, the PostgreSQL-written
    CSV is byte for byte the row-by-row writer's."""
    from api.redcap import render
    from api.redcap.copy import copy_chunks
    from api.redcap.project import Project
    from api.redcap.records import RecordExport, Selection
    from followup.models import Procedure

    Procedure.objects.filter(subject__number="001-0001").update(complication_notes=notes,
                                                                 balloon_device=device)
    export = RecordExport(Project(personas["statistician"]), Selection(records=["001-0001"]))
    expected = "".join(render.csv_chunks(export.header, export.rows()))
    again = RecordExport(Project(personas["statistician"]), Selection(records=["001-0001"]))
    assert b"".join(copy_chunks(again)).decode() == expected


def test_record_export_statement_is_planned_for_parallel_workers(study, personas):
    """The bulk export's statement keeps its per-event SELECTs parallel safe (no OFFSET fences,
    no CTE scan): with the statement's settings the plan gathers from workers; the adjudication
    and repeating SELECTs, which are not parallel safe, stay in the leader beside them."""
    from django.db import connection, transaction

    from api.redcap.copy import STATEMENT_SETTINGS, copy_sql
    from api.redcap.project import Project
    from api.redcap.records import RecordExport, Selection

    sql, params = copy_sql(RecordExport(Project(personas["statistician"]), Selection()))
    with transaction.atomic(), connection.cursor() as cursor:
        # a handful of subjects is not worth starting workers for: priced at nothing here, so
        # that the plan shows which SELECTs workers may run
        for name, value in {**STATEMENT_SETTINGS, "parallel_setup_cost": "0"}.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Gather" in plan and "Workers Planned: 2" in plan, plan[:3000]
    assert "CTE Scan" not in plan


def test_an_export_abandoned_mid_stream_leaves_the_connection_usable(study, personas, monkeypatch):
    """A client that goes away mid-download closes the response's generator inside COPY: the
    COPY is ended, and the connection serves the next request."""
    from django.db import connection

    from api.redcap import copy as redcap_copy
    from api.redcap.project import Project
    from api.redcap.records import RecordExport, Selection
    from core.models import Subject

    monkeypatch.setattr(redcap_copy, "CHUNK", 64)  # many small chunks of the small study
    chunks = redcap_copy.copy_chunks(RecordExport(Project(personas["statistician"]), Selection()))
    header, first = next(chunks), next(chunks)
    assert header.startswith(b"subject_number,") and first
    assert next(chunks)  # more was coming
    chunks.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM core_subject")
        assert cursor.fetchone()[0] == Subject.objects.count() > 0
    full = b"".join(redcap_copy.copy_chunks(RecordExport(Project(personas["statistician"]), Selection())))
    assert full.startswith(header + first)
