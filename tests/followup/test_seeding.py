import pytest

pytestmark = pytest.mark.django_db


def test_seed_demo_fills_visits_as_far_as_elapsed_time_allows_and_is_idempotent():
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from core.models import Subject
    from followup import schedule
    from followup.models import Day90, Procedure, Visit7d, Visit24h, Visit48h

    call_command("seed_demo", "--subjects", "9", stdout=StringIO())
    now = timezone.now()
    subjects = list(Subject.objects.select_related("site"))
    for s in subjects:
        # The procedure form once the procedure is over (2 h after randomization).
        assert Procedure.objects.filter(subject=s).exists() == (now - s.randomized_at > timezone.timedelta(hours=2))
        w = {x.code: x for x in schedule.visit_windows(s.randomized_at, s.site.tz)}
        assert Visit24h.objects.filter(subject=s).exists() == (now >= w["V2"].target)
        assert Visit48h.objects.filter(subject=s).exists() == (now >= w["V3"].target)
        if s.status == "on_study":
            assert Visit7d.objects.filter(subject=s).exists() == (now >= w["V4"].target)
            assert Day90.objects.filter(subject=s).exists() == (now >= w["V5"].target)
    assert Day90.objects.filter(source="assessment").exists()  # old subjects have their day 90
    assert Day90.objects.filter(subject__randomized_at__gt=now - timezone.timedelta(days=80)).count() == \
        Day90.objects.filter(subject__randomized_at__gt=now - timezone.timedelta(days=80), mrs=6).count()
    counts = [m.objects.count() for m in (Procedure, Visit24h, Visit48h, Visit7d, Day90)]
    call_command("seed_demo", "--subjects", "9", stdout=StringIO())
    assert [m.objects.count() for m in (Procedure, Visit24h, Visit48h, Visit7d, Day90)] == counts
