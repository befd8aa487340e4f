"""Integrity tests (issue 17): subjects screened, confirmed and randomized through the real
services at a chosen instant."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone


@pytest.fixture
def allocation_list(personas, sites):
    from randomization.services import allocation_list_generate

    return allocation_list_generate(user=personas["statistician"], seed="integrity-seed", entries_per_stratum=40)


@pytest.fixture
def make_subject(personas, sites, allocation_list):
    """make_subject(randomized_at=None, site="001") -> core.Subject randomized at that instant."""
    import time_machine

    from randomization.services import subject_randomize
    from tests.factories import make_confirmed_screening

    def _make(randomized_at: datetime | None = None, site: str = "001"):
        randomized_at = randomized_at or timezone.now() - timedelta(days=100)
        with time_machine.travel(randomized_at, tick=False):
            screening = make_confirmed_screening(site=sites[site], coordinator=personas[f"coord{site}"],
                                                 investigator=personas[f"inv{site}"])
            allocation = subject_randomize(screening=screening, user=personas[f"coord{site}"], notify=False)
        return allocation.subject

    return _make


def nihss(prefix="nihss", value=1) -> dict:
    from followup import nihss as scale

    return {scale.field_name(prefix, item): min(value, item.max) for item in scale.ITEMS}
