"""Monitor review shows the labels the site entered — never stored codes — for every coded
field of every form of the living demo trial."""

import re
from io import StringIO

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_monitor_review_shows_labels_for_every_coded_field_of_every_form(monkeypatch):
    from django.core.management import call_command
    from django.utils.html import escape

    from core import crf as registry
    from datamanagement.crfs import data_fields

    monkeypatch.setenv("DEMO_PASSWORD", "Demo-Review-1")
    call_command("seed_demo", "--demo", stdout=StringIO())
    client = Client()
    assert client.post("/account/login/", {"username": "monitor", "password": "Demo-Review-1"}).status_code == 302
    checked = set()
    for crf in registry.all_crfs():
        coded = [f for f in data_fields(crf) if f.choices]
        if not coded:
            continue
        for instance in crf.model.objects.order_by("pk")[:30]:
            page = client.get(f"/data/crf/{crf.code}/{instance.pk}/")
            if page.status_code == 404:  # a form the monitor may not review (e.g. the arm's)
                break
            body = page.content.decode()
            for f in coded:
                value = getattr(instance, f.attname)
                if value in (None, ""):
                    continue
                label = str(dict(f.flatchoices)[value])
                cell = re.search(rf'data-testid="value-{f.name}">(.*?)</td>', body, re.S).group(1).strip()
                assert cell == escape(label), (crf.code, f.name, value, cell)
                checked.add((crf.code, f.name))
    forms = {code for code, _ in checked}
    assert {"SCREENING", "V1_PROCEDURE", "V1_PASS", "V3_48H", "V4_DAY7", "V5_DAY90", "DEATH", "EXIT"} <= forms, sorted(forms)
    assert len(checked) >= 15


def test_forms_to_review_table_filters_paginates_with_constant_queries(monkeypatch):
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.models import Subject
    from datamanagement.models import Lock

    monkeypatch.setenv("DEMO_PASSWORD", "Demo-Review-1")
    call_command("seed_demo", "--demo", stdout=StringIO())
    client = Client()
    assert client.post("/account/login/", {"username": "monitor", "password": "Demo-Review-1"}).status_code == 302
    page = client.get("/data/forms/").content.decode()
    assert page.count('data-testid="review-row"') == 50  # paginated
    for header in ("Site", "Form", "Visit", "Entered", "SDV", "Open queries", "Signed", "Locked"):
        assert f"<th>{header}</th>" in page
    locked_ids = set(Lock.objects.filter(level="subject").values_list("subject_id", flat=True))
    locked_subject = Subject.objects.get(pk=min(locked_ids))
    locked = client.get("/data/forms/", {"locked": "yes"}).content.decode()
    assert locked.count('data-testid="review-row"') >= 4 and locked_subject.number in locked
    other = Subject.objects.exclude(pk__in=locked_ids).first()
    assert f">{other.number}</a>" not in locked
    day90 = client.get("/data/forms/", {"form": "V5_DAY90", "site": "001"}).content.decode()
    assert day90.count('data-testid="review-row"') >= 3 and ">002-" not in day90
    open_q = client.get("/data/forms/", {"queries": "open"}).content.decode()
    assert 'badge bg-warning text-dark">1<' in open_q

    with CaptureQueriesContext(connection) as before:
        client.get("/data/forms/")
    call_command("seed_demo", "--subjects", str(Subject.objects.count() + 6), stdout=StringIO())
    with CaptureQueriesContext(connection) as after:
        assert client.get("/data/forms/").status_code == 200
    assert len(after) == len(before)
