"""A real concurrency test: threads with their own database connections press "randomize"
at the same moment, across strata and sites, including double submits of one screening."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

pytestmark = pytest.mark.django_db(transaction=True)

N_SCREENINGS = 60


def _fire(jobs, worker):
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        try:
            connection.ensure_connection()  # connect first, so the requests really collide
            barrier.wait(timeout=30)
            results[i] = worker(job)
        except Exception as exc:  # collected and asserted below
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_simultaneous_randomizations_use_each_entry_once_in_order(personas, sites):
    from core.models import Subject
    from eligibility.models import Screening
    from randomization.models import Allocation, AllocationEntry
    from randomization.services import allocation_list_generate, subject_randomize
    from tests.factories import make_confirmed_screening

    allocation_list_generate(user=personas["statistician"], seed="concurrency", entries_per_stratum=30,
                             site_codes=["001", "002"])
    screenings = []
    for i in range(N_SCREENINGS):
        code = "001" if i % 2 == 0 else "002"
        posterior = {"occlusion_site": "BA", "aspects": None, "pc_aspects": 7} if i % 3 == 0 else {}
        screenings.append(make_confirmed_screening(site=sites[code], coordinator=personas[f"coord{code}"],
                                                   investigator=personas[f"inv{code}"], **posterior))
    # Every screening once, plus a double submit of every fifth one (another user, same moment).
    jobs = [(s.pk, f"coord{s.site.code}") for s in screenings]
    jobs += [(s.pk, f"inv{s.site.code}") for s in screenings[::5]]
    user_ids = {name: personas[name].pk for name in ("coord001", "coord002", "inv001", "inv002")}
    connection.close()

    def worker(job):
        from core.models import User

        screening_id, username = job
        return subject_randomize(screening=Screening.objects.get(pk=screening_id),
                                 user=User.objects.get(pk=user_ids[username])).pk

    results = _fire(jobs, worker)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []

    allocations = list(Allocation.objects.select_related("entry", "subject"))
    assert len(allocations) == N_SCREENINGS  # every screening exactly one allocation
    assert len({a.screening_id for a in allocations}) == N_SCREENINGS
    assert len({a.entry_id for a in allocations}) == N_SCREENINGS  # no entry used twice
    assert len({a.subject.number for a in allocations}) == N_SCREENINGS
    # Double submits got the allocation of their screening.
    by_screening = {a.screening_id: a.pk for a in allocations}
    for (screening_id, _), allocation_id in zip(jobs, results, strict=True):
        assert by_screening[screening_id] == allocation_id
    # No skipped entry: in every stratum the used entries are exactly 1..k, and each arm matches.
    used = Counter()
    for a in allocations:
        assert a.arm == a.entry.arm and a.stratum == a.entry.stratum
        used[a.stratum] += 1
    for stratum, k in used.items():
        sequences = sorted(AllocationEntry.objects.filter(stratum=stratum, used=True).values_list("sequence", flat=True))
        assert sequences == list(range(1, k + 1)), stratum
    assert len(used) == 4  # four strata were hit at once
    # Subject numbers per site are gap-free.
    for code in ("001", "002"):
        numbers = sorted(Subject.objects.filter(site__code=code).values_list("number", flat=True))
        assert numbers == [f"{code}-{n:04d}" for n in range(1, len(numbers) + 1)]
    assert Screening.objects.filter(outcome="randomized").count() == N_SCREENINGS


def test_simultaneous_minimisation_is_serialized(personas, sites):
    from eligibility.models import Screening
    from randomization.models import Allocation
    from randomization.services import subject_randomize, trial_config_update
    from tests.factories import make_confirmed_screening

    trial_config_update(user=personas["statistician"], method="minimisation", minimisation_p=1.0)
    screenings = [make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                           investigator=personas["inv001"]) for _ in range(20)]
    user_id = personas["coord001"].pk
    connection.close()

    def worker(screening_id):
        from core.models import User

        return subject_randomize(screening=Screening.objects.get(pk=screening_id), user=User.objects.get(pk=user_id)).arm

    results = _fire([s.pk for s in screenings], worker)
    assert [r for r in results if isinstance(r, Exception)] == []
    # With p = 1 and identical patients, serialized minimisation alternates: exactly 10/10.
    # (Without the trial-wide lock, simultaneous requests read the same counts and pile up.)
    assert Counter(Allocation.objects.values_list("arm", flat=True)) == {"STENTING": 10, "CONTINUED_MT": 10}
