"""Adjudicated values in the API: REST /api/v1/subjects/{number}/adjudication/ and the REDCap
`adjudication` instrument — the adjudicated value beside the site's, the analysis value
("adjudicated when final, else site") and its source flag; for the statistician and the data
manager only, and never the angiography read for a blinded user."""

import csv
import io
import json

import pytest
from django.test import Client

from tests.adjudication.conftest import (  # noqa: F401
    WAV,
    material_storage,
    randomized_subject,  # noqa: F401
    readers,
    upload,
)
from tests.adjudication.test_reads import MRS_ANSWERS_3
from tests.adjudication.test_results import _day90

pytestmark = pytest.mark.django_db


def _rest(token, number):
    return Client(HTTP_AUTHORIZATION=f"Token {token}").get(f"/api/v1/subjects/{number}/adjudication/")


def _redcap(token, **data):
    r = Client().post("/api/", {"token": token, "content": "record", **data})
    body = b"".join(r.streaming_content) if r.streaming else r.content
    return r.status_code, body.decode()


def _final_mrs(personas, readers, subject):  # noqa: F811
    from adjudication.models import Case
    from adjudication.services import material_upload, read_claim, read_save

    material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                    uploaded=upload("a.wav", WAV))
    case = Case.objects.get(subject=subject, kind="mrs")
    for name in ("rater2", "rater3"):
        read_save(user=readers[name], read=read_claim(user=readers[name], case=case), data=MRS_ANSWERS_3,
                  finalize=True)


def test_rest_adjudication_beside_site_value_with_analysis_rule(personas, readers, randomized_subject,  # noqa: F811
                                                                material_storage, token_for):  # noqa: F811
    subject = randomized_subject("001")
    _day90(personas, subject, 2)
    stat, dm = token_for("statistician"), token_for("datamanager")
    before = _rest(stat, subject.number).json()
    mrs = next(v for v in before["values"] if v["field"] == "mrs")
    assert (mrs["site"], mrs["adjudicated"]) == (2, None)
    assert (before["analysis"]["mrs_day90_analysis"], before["analysis"]["mrs_day90_src"]) == (2, "site")
    _final_mrs(personas, readers, subject)
    after = _rest(stat, subject.number).json()
    mrs = next(v for v in after["values"] if v["field"] == "mrs")
    assert (mrs["site"], mrs["adjudicated"], mrs["status"]) == (2, 3, "Final")
    assert (after["analysis"]["mrs_day90_analysis"], after["analysis"]["mrs_day90_src"]) == (3, "adjudicated")
    assert after["analysis"]["mrs_day90_0_2_analysis"] is False
    # the statistician sees the angiography read; the blinded data manager does not
    assert {"etici_last_pre", "etici_final"} <= {v["field"] for v in after["values"]}
    blinded = _rest(dm, subject.number)
    assert blinded.status_code == 200
    assert not {"etici_last_pre", "etici_final"} & {v["field"] for v in blinded.json()["values"]}
    assert blinded.json()["analysis"]["mrs_day90_analysis"] == 3
    # site staff and the blinded assessor never see adjudication results
    for username in ("coord001", "assessor001"):
        assert _rest(token_for(username), subject.number).status_code == 403


def test_redcap_adjudication_instrument(personas, readers, randomized_subject, material_storage,  # noqa: F811
                                        token_for):
    subject = randomized_subject("001")
    _day90(personas, subject, 2)
    _final_mrs(personas, readers, subject)
    stat = token_for("statistician")
    code, body = _redcap(stat, format="json", forms="adjudication")
    assert code == 200
    rows = [r for r in json.loads(body) if r["redcap_event_name"] == "events_arm_1"]
    assert len(rows) == 1 and rows[0]["subject_number"] == subject.number
    row = rows[0]
    assert (row["adj_mrs_status"], row["adj_mrs"], row["mrs_day90_analysis"], row["mrs_day90_src"]) == (
        "final", "3", "3", "adjudicated")
    assert row["mrs_day90_0_2_analysis"] == "0"
    # the raw flat CSV (written by PostgreSQL) carries the same values
    code, text = _redcap(stat, format="csv", forms="adjudication")
    csv_rows = [r for r in csv.DictReader(io.StringIO(text)) if r["redcap_event_name"] == "events_arm_1"]
    assert {k: v for k, v in csv_rows[0].items() if v} == {k: v for k, v in row.items() if v}
    code, body = _redcap(stat, format="json", forms="adjudication", rawOrLabel="label")
    labelled = [r for r in json.loads(body) if r["redcap_event_name"] == "Events (any time)"][0]
    assert (labelled["mrs_day90_src"], labelled["adj_mrs_status"]) == ("Adjudicated (final central read)", "Final")
    names = {m["field_name"] for m in json.loads(
        Client().post("/api/", {"token": stat, "content": "metadata", "format": "json", "forms": "adjudication"}).content)}
    assert {"adj_mrs", "adj_sich_heidelberg", "adj_etici_final", "mrs_day90_analysis", "sich_src"} <= names
    # the blinded data manager: the instrument without the angiography read
    dm = token_for("datamanager")
    meta = json.loads(Client().post("/api/", {"token": dm, "content": "metadata", "format": "json",
                                              "forms": "adjudication"}).content)
    dm_names = {m["field_name"] for m in meta}
    assert "adj_mrs" in dm_names and not {"adj_etici_final", "adj_etici_last_pre", "adj_angio_etici_status"} & dm_names
    code, body = _redcap(dm, format="json", forms="adjudication")
    assert [r["adj_mrs"] for r in json.loads(body) if r["redcap_event_name"] == "events_arm_1"] == ["3"]
    # not for site staff: the instrument does not exist for them (as an unknown form)
    code, body = _redcap(token_for("coord001"), format="json", forms="adjudication")
    assert code == 400 and "adjudication" in json.loads(body)["error"]
