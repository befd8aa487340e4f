"""PyCap, unmodified, against a live server: `Project(url + "/api/", token)` as the
statistician, a blinded data manager, the blinded assessor and a site-002 coordinator.

The seeded study (tests/exports/conftest.py): subjects 001-0001..0003 and 002-0001..0003;
001-0001 has a procedure form (reveals the arm) and a day-90 mRS 2 by the assessor."""

import io

import pandas as pd
import pytest
import requests
from redcap import Project, RedcapError

from tests.api.conftest import ARM_TEXTS

pytestmark = pytest.mark.django_db(transaction=True)

ALL = ["001-0001", "001-0002", "001-0003", "002-0001", "002-0002", "002-0003"]


def _arms():
    from randomization.models import Allocation

    return dict(Allocation.objects.values_list("subject__number", "arm"))


def test_statistician_gets_metadata_instruments_events_and_records_with_the_randomization(study, token_for, api_url):
    proj = Project(api_url, token_for("statistician"))
    assert proj.def_field == "subject_number"
    assert proj.is_longitudinal is True
    meta = {row["field_name"]: row for row in proj.metadata}
    assert meta["rand_arm"]["form_name"] == "randomization"
    assert meta["rand_arm"]["select_choices_or_calculations"] == \
        "STENTING, Stenting or angioplasty | CONTINUED_MT, Continued thrombectomy"
    assert meta["age_years"]["text_validation_type_or_show_slider_number"] == "integer"
    assert meta["sex"]["field_type"] == "dropdown"
    assert meta["evt_intended"]["field_type"] == "yesno"
    assert "Unit: years" in meta["age_years"]["field_note"]
    assert meta["mrs"]["form_name"] == "v5_day90"
    names = [r["original_field_name"] for r in proj.export_field_names()]
    assert names[0] == "subject_number" and "rand_arm" in names
    instruments = [i["instrument_name"] for i in proj.export_instruments()]
    assert instruments[:3] == ["subject", "randomization", "screening"]
    assert "v1_procedure" in instruments
    events = [e["unique_event_name"] for e in proj.export_events()]
    assert events == ["v0_arm_1", "v1_arm_1", "v2_arm_1", "v3_arm_1", "v4_arm_1", "v5_arm_1", "events_arm_1"]
    assert {"event_name": "events_arm_1", "form_name": "ae", "custom_form_label": ""} in \
        proj.export_repeating_instruments_events()
    mapping = proj.export_instrument_event_mappings()
    assert {"arm_num": "1", "unique_event_name": "v0_arm_1", "form": "randomization"} in mapping

    records = proj.export_records()
    assert sorted({r["subject_number"] for r in records}) == ALL
    v0 = {r["subject_number"]: r for r in records if r["redcap_event_name"] == "v0_arm_1"}
    assert {n: r["rand_arm"] for n, r in v0.items()} == _arms()
    assert all(r["rand_stratum"] for r in v0.values())
    day90 = [r for r in records if r["redcap_event_name"] == "v5_arm_1" and r["subject_number"] == "001-0001"]
    assert day90[0]["mrs"] == "2"

    text = proj.export_records(format_type="csv")
    frame = pd.read_csv(io.StringIO(text), dtype=str)
    assert set(frame["subject_number"]) == set(ALL)
    assert list(frame.columns[:4]) == ["subject_number", "redcap_event_name", "redcap_repeat_instrument",
                                       "redcap_repeat_instance"]
    df = proj.export_records(format_type="df")
    assert df.index.names == ["subject_number", "redcap_event_name"]
    assert df.loc[("001-0001", "v0_arm_1"), "rand_arm"] == _arms()["001-0001"]
    labelled = proj.export_records(records=["001-0001"], fields=["rand_arm", "sex"], raw_or_label="label")
    assert labelled[0]["rand_arm"] in ("Stenting or angioplasty", "Continued thrombectomy")
    assert labelled[0]["sex"] == "Female"
    assert labelled[0]["redcap_event_name"] == "V0 Screening / baseline"


def _assert_blind(proj, body_texts):
    names = proj.field_names
    assert not any(n.startswith("rand_") for n in names)
    forms = {i["instrument_name"] for i in proj.export_instruments()}
    assert "randomization" not in forms and "v1_procedure" not in forms and "v1_pass" not in forms
    for text in body_texts:
        for arm in ARM_TEXTS:
            assert arm not in text


def test_blinded_data_manager_sees_every_site_and_no_arm(study, token_for, api_url):
    proj = Project(api_url, token_for("datamanager"))
    records = proj.export_records()
    assert sorted({r["subject_number"] for r in records}) == ALL
    assert all("rand_arm" not in r and "stent" not in r for r in records)
    csv_text = proj.export_records(format_type="csv")
    df = proj.export_records(format_type="df")
    assert "rand_arm" not in df.columns
    _assert_blind(proj, [str(records), csv_text, str(proj.metadata)])


def test_blinded_assessor_sees_only_subject_numbers_and_the_day90_form_of_site_001(study, token_for, api_url):
    proj = Project(api_url, token_for("assessor001"))
    assert [i["instrument_name"] for i in proj.export_instruments()] == ["subject", "v5_day90"]
    assert [e["unique_event_name"] for e in proj.export_events()] == ["v0_arm_1", "v5_arm_1"]
    records = proj.export_records()
    assert sorted({r["subject_number"] for r in records}) == ["001-0001", "001-0002", "001-0003"]
    assert {r["redcap_event_name"] for r in records} <= {"v0_arm_1", "v5_arm_1"}
    assert any(r["mrs"] == "2" for r in records if r["subject_number"] == "001-0001")
    assert "age_years" not in proj.field_names  # the screening form is not the assessor's
    _assert_blind(proj, [str(records), proj.export_records(format_type="csv"), str(proj.metadata)])
    with pytest.raises(RedcapError, match="rand_arm"):
        proj.export_records(fields=["rand_arm"])


def test_site_002_coordinator_sees_only_site_002(study, token_for, api_url):
    proj = Project(api_url, token_for("coord002"))
    records = proj.export_records()
    assert sorted({r["subject_number"] for r in records}) == ["002-0001", "002-0002", "002-0003"]
    # The treating team is unblinded (SPEC §2): their own site's arms, nothing of site 001.
    v0 = {r["subject_number"]: r["rand_arm"] for r in records if r["redcap_event_name"] == "v0_arm_1"}
    assert v0 == {n: a for n, a in _arms().items() if n.startswith("002-")}
    assert proj.export_records(records=["001-0001"]) == []
    df = proj.export_records(format_type="df")
    assert set(df.index.get_level_values(0)) == {"002-0001", "002-0002", "002-0003"}


def test_redcapr_style_raw_request_returns_the_same_records(study, token_for, api_url):
    token = token_for("datamanager")
    proj = Project(api_url, token)
    wanted = ["001-0001", "002-0001"]
    via_pycap = proj.export_records(format_type="csv", records=wanted, fields=["subject_number", "mrs", "hb_2"],
                                    events=["v0_arm_1", "v3_arm_1", "v5_arm_1"])
    # REDCapR: comma-separated filters, csv, rawOrLabel/rawOrLabelHeaders, no indexed keys.
    raw = requests.post(api_url, data={
        "token": token, "content": "record", "format": "csv", "type": "flat",
        "records": ",".join(wanted), "fields": "subject_number,mrs,hb_2",
        "events": "v0_arm_1,v3_arm_1,v5_arm_1", "rawOrLabel": "raw", "rawOrLabelHeaders": "raw",
        "exportCheckboxLabel": "false", "returnFormat": "csv"}, timeout=30)
    assert raw.status_code == 200 and raw.headers["Content-Type"].startswith("text/csv")
    assert raw.text == via_pycap
    frame = pd.read_csv(io.StringIO(raw.text), dtype=str)
    assert set(frame["subject_number"]) == set(wanted)
    assert frame[frame["subject_number"] == "002-0001"]["hb_2"].dropna().tolist() == ["1"]
    eav = requests.post(api_url, data={"token": token, "content": "record", "format": "json", "type": "eav",
                                       "records": "001-0001", "fields": "mrs"}, timeout=30).json()
    assert {"record": "001-0001", "redcap_event_name": "v5_arm_1", "redcap_repeat_instrument": "",
            "redcap_repeat_instance": "", "field_name": "mrs", "value": "2"} in eav


def test_import_without_reason_is_refused_and_with_reason_is_audited(study, token_for, api_url):
    from followup.models import Day90

    token = token_for("assessor001", label="day90 corrections")
    proj = Project(api_url, token)
    change = [{"subject_number": "001-0001", "redcap_event_name": "v5_arm_1", "mrs": "3"}]
    with pytest.raises(RedcapError, match="reason"):
        proj.import_records(change)
    day90 = Day90.objects.get(subject__number="001-0001")
    assert day90.mrs == 2
    # PyCap's own payload, plus the reason this EDC requires for a change.
    payload = proj._initialize_import_payload(change, import_format="json", return_format_type="json",
                                              content="record")
    payload.update({"overwriteBehavior": "normal", "returnContent": "count", "type": "flat",
                    "reason": "Re-interviewed: the patient walks with help"})
    assert proj._call_api(payload, "count_dict") == {"count": 1}
    day90.refresh_from_db()
    assert day90.mrs == 3
    event = day90.events.order_by("-pgh_id").first()
    assert event.mrs == 3
    assert event.pgh_context.metadata["reason"] == "Re-interviewed: the patient walks with help"
    assert event.pgh_context.metadata["api_token"] == "day90 corrections"
    assert event.pgh_context.metadata["username"] == "assessor001"
    # A value the form's hard checks refuse: every refused field with its rule, nothing saved.
    bad = [{"subject_number": "001-0001", "redcap_event_name": "v5_arm_1", "mrs": "9", "eq5d_vas": "250"}]
    response = requests.post(api_url, data={"token": token, "content": "record", "action": "import",
                                            "format": "json", "data": __import__("json").dumps(bad),
                                            "reason": "typo"}, timeout=30)
    assert response.status_code == 400
    refused = {p["field"] for p in response.json()["fields"]}
    assert {"mrs", "eq5d_vas"} <= refused
    day90.refresh_from_db()
    assert day90.mrs == 3
