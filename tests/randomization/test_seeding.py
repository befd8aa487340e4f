import pytest

pytestmark = pytest.mark.django_db


def test_seed_demo_subjects_through_real_services_and_idempotent():
    from io import StringIO

    from django.core.management import call_command

    from audit.models import AuditAction, AuditEvent
    from core.models import Subject
    from eligibility.models import Screening
    from randomization.models import Allocation, AllocationEntry

    out = StringIO()
    call_command("seed_demo", "--subjects", "12", stdout=out)
    assert Subject.objects.count() == 12
    assert Allocation.objects.count() == 12 == AllocationEntry.objects.filter(used=True).count()
    assert Screening.objects.filter(outcome="randomized", confirmed_at__isnull=False).count() == 12
    assert AuditEvent.objects.filter(action=AuditAction.RANDOMIZED).count() == 12
    assert set(Subject.objects.values_list("site__code", flat=True)) == {"001", "002", "003"}
    times = list(Subject.objects.order_by("randomized_at").values_list("randomized_at", flat=True))
    assert (times[-1] - times[0]).days > 100  # spread over past months for follow-up seeding
    call_command("seed_demo", "--subjects", "12", stdout=StringIO())
    assert Subject.objects.count() == 12 and Screening.objects.count() == 12
    call_command("seed_demo", "--subjects", "15", stdout=StringIO())
    assert Subject.objects.count() == 15
    numbers = sorted(Subject.objects.filter(site__code="001").values_list("number", flat=True))
    assert numbers == [f"001-{n:04d}" for n in range(1, len(numbers) + 1)]
