"""Follow-up test helpers: randomized subjects and form posts."""

import itertools
from datetime import datetime

import pytest

_numbers = itertools.count(1)


@pytest.fixture
def make_subject(personas, sites):
    """make_subject(randomized_at, site="001") -> core.Subject (randomized)."""
    from core.models import Subject

    def _make(randomized_at: datetime, site: str = "001"):
        number = f"{site}-{next(_numbers):04d}"
        return Subject.objects.create(number=number, site=sites[site], randomized_at=randomized_at)

    return _make
