"""Fixtures for data-management tests: CRF instances made through the owning apps' real
services (eligibility, randomization; follow-up forms once merged)."""

import pytest
from django.db import transaction


@pytest.fixture
def make_screening(personas, sites):
    from tests.factories import make_screening as factory

    def _make(site="001", **overrides):
        return factory(site=sites[site], coordinator=personas[f"coord{site}"], **overrides)

    return _make


@pytest.fixture
def screening(make_screening):
    return make_screening()


@pytest.fixture
def allocation_list(personas, sites):
    from randomization.services import allocation_list_generate

    return allocation_list_generate(user=personas["statistician"], seed="dm-seed", entries_per_stratum=10)


@pytest.fixture
def randomized(personas, sites, allocation_list):
    """randomized("001", **overrides) → (screening, subject) through the real services."""
    from randomization.services import subject_randomize
    from tests.factories import make_confirmed_screening

    def _make(code="001", **overrides):
        screening = make_confirmed_screening(site=sites[code], coordinator=personas[f"coord{code}"],
                                             investigator=personas[f"inv{code}"], **overrides)
        allocation = subject_randomize(screening=screening, user=personas[f"coord{code}"])
        screening.refresh_from_db()
        return screening, allocation.subject

    return _make


def save_crf(instance, *, user, reason="", **changes):
    """Change fields of a CRF instance the way a save service does (through crf_write)."""
    from datamanagement.services import crf_write

    with transaction.atomic():
        fresh = type(instance).objects.get(pk=instance.pk)
        for k, v in changes.items():
            setattr(fresh, k, v)
        with crf_write(instance=fresh, user=user, reason=reason, expected_version=fresh.version) as w:
            fresh.version += 1
            fresh.save()
    return fresh, w


def update_screening(screening, *, user, reason="", **data):
    """A change through eligibility.services.screening_update (the real form path)."""
    from eligibility.data import screening_data
    from eligibility.services import screening_update

    screening.refresh_from_db()
    return screening_update(screening=screening, user=user, data={**screening_data(screening), **data},
                            version=screening.version, reason=reason)


@pytest.fixture
def make_subject(sites):
    """make_subject(randomized_at, site="001") → a core.Subject without screening (as in the
    follow-up tests), for forms whose checks only need T0."""
    import itertools

    from core.models import Subject

    numbers = itertools.count(500)

    def _make(randomized_at, site="001"):
        return Subject.objects.create(number=f"{site}-{next(numbers):04d}", site=sites[site],
                                      randomized_at=randomized_at)

    return _make
