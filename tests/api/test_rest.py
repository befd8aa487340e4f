"""REST /api/v1/: site scope, forms with If-Match and reason through the write path, problem
details, cursor pagination."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _client(token):
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def test_subjects_are_site_scoped_and_paginated_by_cursor(study, token_for):
    c = _client(token_for("coord002"))
    body = c.get("/api/v1/subjects/").json()
    assert [s["number"] for s in body["results"]] == ["002-0001", "002-0002", "002-0003"]
    assert "arm" not in body["results"][0]
    assert c.get("/api/v1/subjects/001-0001/").status_code == 404
    dm = _client(token_for("datamanager"))
    first = dm.get("/api/v1/subjects/?page_size=4").json()
    assert len(first["results"]) == 4 and first["next"]
    second = dm.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    problem = c.get("/api/v1/subjects/001-0001/")
    assert problem["Content-Type"] == "application/problem+json"
    assert problem.json()["status"] == 404
    assert Client().get("/api/v1/subjects/").json()["status"] == 401


def test_form_patch_needs_if_match_and_reason_and_goes_through_the_write_path(study, token_for):
    from followup.models import Day90

    c = _client(token_for("assessor001", label="assessor tablet"))
    got = c.get("/api/v1/subjects/001-0001/forms/v5_day90/")
    assert got.status_code == 200
    version = got.json()[0]["version"]
    assert got["ETag"] == f'"{version}"'
    url = "/api/v1/subjects/001-0001/forms/v5_day90/"
    body = {"values": {"mrs": "4"}, "reason": "source document says 4"}
    assert c.patch(url, body, content_type="application/json").status_code == 428
    stale = c.patch(url, body, content_type="application/json", HTTP_IF_MATCH=f'"{version + 5}"')
    assert stale.status_code == 412 and "version" in stale.json()["detail"]
    no_reason = c.patch(url, {"values": {"mrs": "4"}}, content_type="application/json",
                        HTTP_IF_MATCH=f'"{version}"')
    assert no_reason.status_code == 400
    assert any("reason" in p["rule"] for p in no_reason.json()["fields"])
    bad = c.patch(url, {"values": {"mrs": "9"}, "reason": "x"}, content_type="application/json",
                  HTTP_IF_MATCH=f'"{version}"')
    assert bad.status_code == 400 and bad.json()["fields"][0]["field"] == "mrs"
    ok = c.patch(url, body, content_type="application/json", HTTP_IF_MATCH=f'"{version}"')
    assert ok.status_code == 200, ok.content
    assert ok.json()[0]["values"]["mrs"] == "4" and ok.json()[0]["version"] == version + 1
    day90 = Day90.objects.get(subject__number="001-0001")
    event = day90.events.order_by("-pgh_id").first()
    assert event.pgh_context.metadata["reason"] == "source document says 4"
    assert event.pgh_context.metadata["api_token"] == "assessor tablet"
    # The assessor cannot open other forms, nor write the coordinator's.
    assert c.get("/api/v1/subjects/001-0001/forms/v2_24h/").status_code == 404


def test_queries_dictionary_and_exports(study, token_for, settings, tmp_path):
    settings.EDC_EXPORT_DIR = tmp_path
    from followup.models import Day90

    day90 = Day90.objects.get(subject__number="001-0001")
    dm = _client(token_for("datamanager"))
    raised = dm.post("/api/v1/queries/", {"form": "V5_DAY90", "record": day90.pk, "field": "mrs",
                                          "text": "Please confirm the mRS."}, content_type="application/json")
    assert raised.status_code == 201, raised.content
    qid = raised.json()["id"]
    assessor = _client(token_for("assessor001"))
    seen = assessor.get("/api/v1/queries/").json()["results"]
    assert qid in [q["id"] for q in seen] and {q["form"] for q in seen} == {"V5_DAY90"}
    answered = assessor.post(f"/api/v1/queries/{qid}/answer/", {"text": "Confirmed by phone."},
                             content_type="application/json")
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert dm.post(f"/api/v1/queries/{qid}/close/", {}, content_type="application/json").json()["status"] == "closed"
    variables = {row["variable"] for row in dm.get("/api/v1/dictionary/").json()}
    assert "mrs" in variables and "arm" not in variables
    assert _client(token_for("coord001")).get("/api/v1/dictionary/").status_code == 403
    started = dm.post("/api/v1/exports/", {"formats": ["csv"]}, content_type="application/json")
    assert started.status_code == 201, started.content
    export_id = started.json()["id"]
    from exports.services import export_run

    export_run(export_id=export_id)
    assert dm.get(f"/api/v1/exports/{export_id}/").json()["status"] == "done"
    download = dm.get(f"/api/v1/exports/{export_id}/download/")
    assert download.status_code == 200
    refused = dm.post("/api/v1/exports/", {"formats": ["csv"], "blinded": False}, content_type="application/json")
    assert refused.status_code == 403 and "unblinded" in refused.json()["detail"]


def test_screening_create_and_confirm_go_through_the_services(study, token_for):
    from eligibility.models import Screening

    coord = _client(token_for("coord001"))
    bad = coord.post("/api/v1/screenings/", {"site": "001", "values": {"age_years": "250"}},
                     content_type="application/json")
    assert bad.status_code == 400 and "age_years" in bad.json()["fields"]
    elsewhere = coord.post("/api/v1/screenings/", {"site": "002", "values": {"age_years": "60"}},
                           content_type="application/json")
    assert elsewhere.status_code == 403
    created = coord.post("/api/v1/screenings/", {"site": "001", "values": {"age_years": "64", "sex": "female"},
                                                  "passes": [{"technique": "contact_aspiration", "etici": "0"}]},
                         content_type="application/json")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    screening = Screening.objects.get(number=number)
    assert screening.age_years == 64 and screening.verdict_status == "ineligible"  # IN8: one pass
    assert coord.post(f"/api/v1/screenings/{number}/confirm/").status_code == 403
    refused = _client(token_for("inv001")).post(f"/api/v1/screenings/{number}/confirm/")
    assert refused.status_code == 400 and "eligible" in refused.json()["detail"]
    assert _client(token_for("coord002")).post(f"/api/v1/screenings/{number}/confirm/").status_code == 404
