"""Blinded users crawl every data-management page: no arm, no allocation, never a 500."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db

ARM = re.compile(r"STENTING|CONTINUED_MT|Stenting or angioplasty|Continued thrombectomy|stent_type|balloon", re.I)


@pytest.fixture
def trial_data(randomized, personas):
    from datamanagement import services
    from followup import services as fu

    screening, subject = randomized()
    t0 = subject.randomized_at
    v1 = fu.procedure_save(subject=subject, user=personas["coord001"], passes=[], version=None,
                           data={"first_reperfusion_at": t0 + timedelta(minutes=20), "stent": True,
                                 "stent_type": "balloon_expandable", "final_etici": "2b67"})
    services.query_open(user=personas["monitor"], instance=v1, field_name="stent_type", text="Which stent (balloon)?")
    services.query_open(user=personas["monitor"], instance=screening, field_name="aspects", text="ASPECTS?")
    services.sdv_mark(user=personas["monitor"], instance=v1)
    services.lock_form(user=personas["datamanager"], instance=screening, reason="clean")
    return screening, subject, v1


@pytest.mark.parametrize("who", ["datamanager", "admin", "assessor001"])
def test_blinded_users_see_no_arm_on_any_data_management_page(who, trial_data, client_for):
    screening, subject, v1 = trial_data
    client = client_for(who)
    urls = ["/data/queries/", "/data/queries/?status=", "/data/forms/", "/data/sdv/", "/data/locks/",
            "/data/audit/", "/data/audit/?format=csv", "/data/editchecks/", f"/data/subjects/{subject.pk}/",
            f"/data/crf/SCREENING/{screening.pk}/", f"/data/crf/V1_PROCEDURE/{v1.pk}/",
            f"/data/audit/?subject={subject.number}", "/data/audit/?form=V1_PROCEDURE"]
    from datamanagement.models import Query

    urls += [f"/data/queries/{q.pk}/" for q in Query.objects.all()]
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        body = response.content.decode(errors="replace")
        match = ARM.search(body)
        assert match is None, f"{who} sees {match.group(0)!r} on {url}"
    assert client.get(f"/data/crf/V1_PROCEDURE/{v1.pk}/").status_code == 404


def test_the_crawl_can_fail_an_unblinded_monitor_does_see_the_procedure(trial_data, client_for):
    _, _, v1 = trial_data
    body = client_for("monitor").get(f"/data/crf/V1_PROCEDURE/{v1.pk}/").content.decode()
    assert ARM.search(body)
    assert timezone.now()
