"""A blinded token's crawl of every endpoint (REDCap contents × formats × options, REST
resources, refused requests, the OpenAPI schema) finds no treatment arm; the same crawl by
the statistician does find it (so the sweep can fail)."""

import pytest
from django.test import Client

from tests.api.conftest import ARM_TEXTS

pytestmark = pytest.mark.django_db

CONTENTS = ["version", "project", "metadata", "instrument", "event", "arm", "formEventMapping",
            "exportFieldNames", "repeatingFormsEvents"]


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _crawl(token: str) -> list[tuple[str, int, str]]:
    client = Client()
    seen = []

    def redcap(**data):
        r = client.post("/api/", {"token": token, **data})
        seen.append((f"/api/ {data}", r.status_code, _body(r)))

    for fmt in ("json", "csv", "xml"):
        for content in CONTENTS:
            redcap(content=content, format=fmt)
        for record_type in ("flat", "eav"):
            for raw in ("raw", "label"):
                redcap(content="record", format=fmt, type=record_type, rawOrLabel=raw,
                       rawOrLabelHeaders=raw, exportCheckboxLabel="true")
        # refused requests must not tell either
        redcap(content="record", format=fmt, fields="rand_arm")
        redcap(content="record", format=fmt, forms="randomization,v1_procedure")
        redcap(content="metadata", format=fmt, forms="randomization")
        redcap(content="record", format=fmt, dateRangeBegin="2000-01-01 00:00:00")
        redcap(content="nonsense", format=fmt)
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    urls = ["/api/v1/sites/", "/api/v1/subjects/", "/api/v1/screenings/", "/api/v1/queries/",
            "/api/v1/dictionary/", "/api/v1/exports/", "/api/v1/audit/", "/api/v1/schema/",
            "/api/v1/subjects/?ordering=arm"]
    from core.models import Subject

    for number in Subject.objects.values_list("number", flat=True):
        urls += [f"/api/v1/subjects/{number}/", f"/api/v1/subjects/{number}/forms/"]
        for form in ("v1_procedure", "v1_pass", "v2_24h", "v5_day90", "screening", "randomization"):
            urls.append(f"/api/v1/subjects/{number}/forms/{form}/")
    for url in urls:
        r = client.get(url, **headers)
        seen.append((url, r.status_code, _body(r)))
    return seen


def _arm_hits(seen):
    return [(where, code) for where, code, body in seen if any(a in body for a in ARM_TEXTS)]


@pytest.mark.parametrize("username", ["datamanager", "assessor001", "admin"])
def test_blinded_token_crawl_finds_no_arm(study, token_for, username):
    seen = _crawl(token_for(username))
    assert len(seen) > 100
    assert all(code < 500 for _, code, _ in seen), [(w, c) for w, c, _ in seen if c >= 500]
    assert _arm_hits(seen) == []


def test_statistician_crawl_does_see_the_arm(study, token_for):
    seen = _crawl(token_for("statistician"))
    hits = _arm_hits(seen)
    assert any("content': 'record'" in where for where, _ in hits)
