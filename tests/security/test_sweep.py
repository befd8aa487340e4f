"""Cross-cutting security sweeps over every URL of the project (SPEC §2, §5): no persona ever
gets a server error, blinded users never learn the arm by any page, CSV or JSON, and site staff
never reach another site's objects."""

from __future__ import annotations

import pytest

from tests.security.conftest import concrete_urls

pytestmark = pytest.mark.django_db

PERSONAS = ["coord001", "inv001", "assessor001", "coord002", "inv002", "monitor", "datamanager",
            "statistician", "admin"]


def test_no_page_errors_for_any_persona(study, client_for):
    urls = concrete_urls(study)
    failures = []
    for who in PERSONAS:
        client = client_for(who)
        client.raise_request_exception = False
        for name, group in urls.items():
            for url in group:
                response = client.get(url)
                if response.status_code >= 500:
                    failures.append(f"{who} GET {url} ({name}) → {response.status_code}")
        assert client.get("/account/logout/").status_code < 500  # GET is refused, never a 500
    anonymous = __import__("django.test", fromlist=["Client"]).Client(raise_request_exception=False)
    for name, group in urls.items():
        for url in group:
            response = anonymous.get(url)
            if response.status_code >= 500:
                failures.append(f"anonymous GET {url} ({name}) → {response.status_code}")
    assert not failures, "\n".join(failures)
