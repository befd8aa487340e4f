"""Real concurrent writes (threads, separate connections): no lost update, no duplicate number."""

import threading

import pytest
from django.db import connection

from core.exceptions import StaleVersion as ScreeningStale
from eligibility.models import Screening
from eligibility.services import screening_create, screening_update

pytestmark = pytest.mark.django_db(transaction=True)


def _run_together(*targets):
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def wrap(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # collected and asserted by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_saves_from_the_same_version_one_wins_other_is_told(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data={"age_years": 50})
    results = _run_together(
        lambda: screening_update(screening=s, user=personas["coord001"], data={"prestroke_mrs": 0}, version=1),
        lambda: screening_update(screening=s, user=personas["inv001"], data={"prestroke_mrs": 1}, version=1),
    )
    stale = [r for r in results if isinstance(r, ScreeningStale)]
    saved = [r for r in results if isinstance(r, Screening)]
    assert len(stale) == 1 and len(saved) == 1, results
    s.refresh_from_db()
    assert s.version == 2 and s.prestroke_mrs == saved[0].prestroke_mrs


def test_simultaneous_screenings_at_one_site_get_distinct_numbers(personas, sites):
    results = _run_together(*[
        (lambda: screening_create(site=sites["001"], user=personas["coord001"], data={}))
        for _ in range(4)
    ])
    assert all(isinstance(r, Screening) for r in results), results
    assert sorted(r.number for r in results) == ["001-S0001", "001-S0002", "001-S0003", "001-S0004"]
