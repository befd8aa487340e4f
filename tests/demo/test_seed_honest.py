"""`seed_demo --subjects N` writes only what the forms accept on the day it runs (through the
real services, whose hard checks refuse a date in the future), and all of it or nothing."""

import datetime as dt
from io import StringIO

import pytest
import time_machine

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("frozen", [
    dt.datetime(2026, 12, 1, 21, 50, tzinfo=dt.UTC),  # evening UTC: already tomorrow in Shanghai
    dt.datetime(2027, 2, 28, 16, 1, tzinfo=dt.UTC),   # one minute past midnight in Shanghai
    dt.datetime(2028, 2, 29, 3, 30, tzinfo=dt.UTC),   # a leap day, mid-morning
], ids=["evening-utc", "after-midnight-local", "leap-day"])
def test_seed_demo_300_subjects_on_a_fresh_database(frozen):
    from django.core.management import call_command

    from core.models import Subject
    from followup.models import Day90, Visit7d

    with time_machine.travel(frozen, tick=True):
        call_command("seed_demo", "--subjects", "300", stdout=StringIO())
        today = frozen.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
        assert Subject.objects.count() == 300
        assert Day90.objects.filter(source="assessment").count() > 100
        assert not Day90.objects.filter(assessed_on__gt=today).exists()
        assert not Visit7d.objects.filter(assessed_on__gt=today).exists()


def test_seed_demo_is_all_or_nothing(monkeypatch):
    from django.core.management import call_command

    from core.models import Subject
    from eligibility.models import Screening
    from followup import seeding
    from followup.models import Procedure
    from randomization.models import Allocation

    def broken(**kwargs):
        raise RuntimeError("the 7-day form failed half-way")

    monkeypatch.setattr(seeding.services, "visit7d_save", broken)
    with pytest.raises(RuntimeError, match="half-way"):
        call_command("seed_demo", "--subjects", "12", stdout=StringIO())
    assert Subject.objects.count() == Screening.objects.count() == Allocation.objects.count() == 0
    assert Procedure.objects.count() == 0
