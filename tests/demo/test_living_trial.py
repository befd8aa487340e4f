"""`make run` seeds a living trial (seed_demo --demo): a fresh database on which coord001 can
screen and randomize at once, and the blinded assessor has a subject in its day-90 window."""

import random
from io import StringIO

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

DEMO_PASSWORD = "Demo-Living-Trial-1"


@pytest.fixture
def living_trial(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    call_command("seed_demo", "--demo", stdout=StringIO())


def sign_in(username: str) -> Client:
    """Through the real login form, with the demo password the seeding set."""
    client = Client()
    response = client.post("/account/login/", {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def test_living_trial_has_subjects_in_every_state(living_trial):
    from core.models import Subject
    from datamanagement.models import Lock, Query, Signature
    from eligibility.models import Screening
    from randomization.models import AllocationList

    assert AllocationList.objects.filter(active=True).exists()
    statuses = set(Subject.objects.values_list("status", flat=True))
    assert statuses == {"on_study", "completed", "withdrawn", "dead"}
    assert 30 <= Subject.objects.count() <= 60
    outcomes = set(Screening.objects.values_list("outcome", flat=True))
    assert {"ineligible", "consent_refused", "recanalized", "open", "randomized"} <= outcomes
    assert all(codes for codes in Screening.objects.filter(outcome="ineligible")
               .values_list("closed_reason_codes", flat=True))
    assert Query.objects.filter(status="open").count() >= 3
    assert Signature.objects.filter(scope="casebook", broken_at=None).count() >= 2
    assert Lock.objects.filter(level="subject").count() >= 1


def test_coordinator_screens_and_randomizes_without_any_other_step(living_trial):
    from django.utils import timezone

    from core.models import Site, User
    from eligibility.services import screening_confirm, screening_create
    from randomization.seeding import screening_data

    coord, inv = User.objects.get(username="coord001"), User.objects.get(username="inv001")
    site = Site.objects.get(code="001")
    screening = screening_create(site=site, user=coord,
                                 data=screening_data(random.Random(1), timezone.now(), posterior=False))
    screening_confirm(screening=screening, user=inv)
    client = sign_in("coord001")
    page = client.get(f"/randomization/screening/{screening.pk}/")
    assert page.status_code == 200 and b'data-testid="confirm-randomize"' in page.content
    response = client.post(f"/randomization/screening/{screening.pk}/")
    assert response.status_code == 302 and "/allocation/" in response["Location"], response.content[:400]
    result = client.get(response["Location"])
    assert b'data-testid="subject-number"' in result.content


def test_assessor_sees_a_subject_in_its_day90_window(living_trial):
    from core.models import User
    from followup import schedule, selectors

    assessor = User.objects.get(username="assessor001")
    due, _overdue = selectors.due_lists(assessor)
    open_v5 = [i for i in due if i.code == "V5" and i.status in (schedule.Status.OPEN, schedule.Status.DUE)]
    assert open_v5, [(i.subject.number, i.code, i.status) for i in due]
    client = sign_in("assessor001")
    page = client.get("/subjects/").content.decode()
    assert open_v5[0].subject.number in page
