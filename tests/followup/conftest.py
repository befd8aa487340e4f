"""Follow-up test helpers: subjects screened, confirmed and randomized through the real
services (eligibility → randomization), at a chosen instant (time travel)."""

from datetime import datetime

import pytest


@pytest.fixture
def allocation_list(personas, sites):
    from randomization.services import allocation_list_generate

    return allocation_list_generate(user=personas["statistician"], seed="followup-test-seed",
                                    entries_per_stratum=40)


@pytest.fixture
def make_subject(personas, sites, allocation_list):
    """make_subject(randomized_at, site="001") -> core.Subject randomized at that instant."""
    import time_machine
    from django.core import mail

    from core.roles import Role
    from randomization.services import subject_randomize
    from tests.conftest import make_user
    from tests.factories import make_confirmed_screening

    def _make(randomized_at: datetime, site: str = "001"):
        coordinator = personas.get(f"coord{site}") or make_user(f"coord{site}", Role.COORDINATOR, sites[site])
        investigator = personas.get(f"inv{site}") or make_user(f"inv{site}", Role.INVESTIGATOR, sites[site])
        with time_machine.travel(randomized_at, tick=False):
            screening = make_confirmed_screening(site=sites[site], coordinator=coordinator,
                                                 investigator=investigator)
            allocation = subject_randomize(screening=screening, user=coordinator, notify=False)
        if hasattr(mail, "outbox"):
            mail.outbox.clear()  # only the reminders' e-mails are counted by the tests
        return allocation.subject

    return _make
