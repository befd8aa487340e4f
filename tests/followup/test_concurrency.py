"""Two people saving the same form at the same moment: one wins, the other is refused with
StaleVersion (never a silent overwrite, never a 500)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from followup import services
from followup.exceptions import StaleVersion
from followup.models import Visit24h

pytestmark = pytest.mark.django_db(transaction=True)


def race(fn_a, fn_b):
    barrier = threading.Barrier(2)
    results = []

    def run(fn):
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f,)) for f in (fn_a, fn_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("first_save", [True, False], ids=["both-first-save", "both-edit-version-1"])
def test_concurrent_saves_of_one_form_one_wins_one_is_refused(make_subject, personas, first_save):
    subject = make_subject(timezone.now() - timedelta(days=2))
    version = None
    if not first_save:
        services.visit24h_save(subject=subject, user=personas["coord001"], data={"nihss_i1a": 0}, version=None)
        version = 1

    def save(user, value):
        return lambda: services.visit24h_save(subject=subject, user=personas[user], version=version,
                                              data={"nihss_i1a": value}, reason="re-examined")

    results = race(save("coord001", 1), save("inv001", 2))
    winners = [r for r in results if isinstance(r, Visit24h)]
    losers = [r for r in results if isinstance(r, StaleVersion)]
    assert len(winners) == 1 and len(losers) == 1, results
    row = Visit24h.objects.get(subject=subject)
    assert row.nihss_i1a == winners[0].nihss_i1a
    assert row.version == (1 if first_save else 2)
