"""200 concurrent randomizations through randomization.services.subject_randomize, next to
the bare psycopg equivalent measured in the same run on the same database: lock the
stratum's next unused entry, mark it used, insert the allocation (nothing else).

Each side has WORKERS long-lived worker processes with one database connection each, as
gunicorn workers with persistent connections (DB_CONN_MAX_AGE) serve requests. A round submits
200 requests over 6 strata (3 sites × 2 circulations) to a side's workers at once; rounds
alternate baseline / Django. The first round of each side warms the workers up (connections,
PostgreSQL's catalogue caches, prepared statements) and is not counted, as a server's first
requests after a start are not its steady state; ROUNDS rounds are then counted.

Timed on the Django side: the subject_randomize call (notify=False: the confirmation e-mail
is queued to Celery after commit, outside the locks), given what the view has in hand when it
calls it (the screening, request.user with its memberships). Those are loaded into each worker
before the clock starts, so no worker's loading competes for the cores with another's timed
randomization (the baseline loads nothing either).

Reported: throughput, p50/p95 latency pooled over the counted rounds, machine CPU used per
randomization (clients + PostgreSQL, from /proc/stat), the p95 ratio (target ≤ 3×) overall and
per round, and integrity errors (exceptions, entries used twice, skipped entries, screenings
with ≠ 1 allocation).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter

from bench.harness import p95, system_cpu_seconds

N = 200
# Counted rounds of N per side (BENCH_ROUNDS): one round's p95 rests on its 10 slowest of 200
# and moves with whatever else the machine does; the pooled p95 of several is steadier.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 0)) or 3
# Worker processes per side (BENCH_WORKERS): the N requests of a round are submitted at once
# and queue for them, as requests queue for gunicorn workers.
WORKERS = int(os.environ.get("BENCH_WORKERS", 0)) or 20
_SITES = ("001", "002", "003")
_ENTRIES_PER_STRATUM = 80  # per round: more than the ~50 a stratum gets in one round


def _setup(batches: int):
    """Sites, staff, one allocation list big enough for every batch, and N confirmed
    screenings per batch (the same mix of sites and circulations in each)."""
    from core.models import Site
    from core.roles import Role
    from randomization.services import allocation_list_generate
    from tests.conftest import make_user
    from tests.factories import make_confirmed_screening

    sites = {code: Site.objects.get_or_create(code=code, defaults={"name": f"Bench {code}"})[0] for code in _SITES}
    staff = {code: (make_user(f"bcoord{code}", Role.COORDINATOR, site), make_user(f"binv{code}", Role.INVESTIGATOR, site))
             for code, site in sites.items()}
    statistician = make_user("bstat", Role.STATISTICIAN, None)
    allocation_list_generate(user=statistician, seed="bench", entries_per_stratum=_ENTRIES_PER_STRATUM * batches)
    out = []
    for _ in range(batches):
        batch = []
        for i in range(N):
            code = _SITES[i % 3]
            extra = {"occlusion_site": "BA", "aspects": None, "pc_aspects": 8} if i % 4 == 0 else {}
            coord, inv = staff[code]
            screening = make_confirmed_screening(site=sites[code], coordinator=coord, investigator=inv, **extra)
            batch.append((screening.pk, coord.pk, f"{code}-{screening.circulation}"))
        out.append(batch)
    return out


# --- Worker processes (as gunicorn runs Django: one connection per process, no shared GIL) ---

_INPUTS: dict = {}
_BASELINE_CONN = None


def _connection_params() -> dict:
    from django.db import connection

    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    return params


def _init_django_worker(tasks):
    from django.db import connection

    from core import access
    from core.models import User
    from eligibility.models import Screening

    connection.ensure_connection()
    users = {u.pk: u for u in User.objects.filter(pk__in={user_id for _, user_id in tasks})}
    for user in users.values():
        access.user_memberships(user)  # the view's permission check has loaded them
    screenings = Screening.objects.in_bulk([screening_id for screening_id, _ in tasks])
    _INPUTS.update({(s, u): (screenings[s], users[u]) for s, u in tasks})


def _init_baseline_worker():
    global _BASELINE_CONN
    import psycopg

    _BASELINE_CONN = psycopg.connect(**_connection_params())


def _django_task(task):
    from randomization.services import subject_randomize

    screening, user = _INPUTS[task]
    start = time.perf_counter()
    try:
        subject_randomize(screening=screening, user=user, notify=False)
    except Exception as exc:  # counted as integrity errors
        return None, repr(exc)[:200]
    return time.perf_counter() - start, None


def _baseline_task(task):
    screening_id, stratum = task
    conn = _BASELINE_CONN
    start = time.perf_counter()
    try:
        with conn.transaction():
            row = conn.execute("SELECT id, arm FROM bench_entry WHERE stratum = %s AND NOT used ORDER BY sequence "
                               "LIMIT 1 FOR NO KEY UPDATE", (stratum,)).fetchone()
            conn.execute("UPDATE bench_entry SET used = true, used_at = now() WHERE id = %s", (row[0],))
            conn.execute("INSERT INTO bench_allocation (screening_id, entry_id, arm, randomized_at) "
                         "VALUES (%s, %s, %s, now())", (screening_id, row[0], row[1]))
    except Exception as exc:
        return None, repr(exc)[:200]
    return time.perf_counter() - start, None


def _started(_):
    time.sleep(0.2)  # every worker process is up before the first round is submitted
    return os.getpid()


def _round(pool, fn, tasks) -> dict:
    cpu_before, started = system_cpu_seconds(), time.perf_counter()
    results = pool.map(fn, tasks, chunksize=1)
    wall, cpu_after = time.perf_counter() - started, system_cpu_seconds()
    return {"wall": wall, "lat": [r[0] for r in results if r[0] is not None],
            "errors": [r[1] for r in results if r[1] is not None],
            "cpu": (cpu_after - cpu_before) if cpu_before is not None else 0.0}


def _create_baseline_tables(strata: set[str], per_stratum: int) -> None:
    import psycopg

    with psycopg.connect(**_connection_params(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_allocation; DROP TABLE IF EXISTS bench_entry")
        conn.execute("CREATE TABLE bench_entry (id bigserial PRIMARY KEY, stratum text NOT NULL, sequence int NOT NULL,"
                     " arm text NOT NULL, used boolean NOT NULL DEFAULT false, used_at timestamptz,"
                     " UNIQUE (stratum, sequence))")
        conn.execute("CREATE INDEX bench_entry_next ON bench_entry (stratum, sequence) WHERE NOT used")
        conn.execute("CREATE TABLE bench_allocation (id bigserial PRIMARY KEY, screening_id int UNIQUE NOT NULL,"
                     " entry_id bigint UNIQUE NOT NULL REFERENCES bench_entry, arm text NOT NULL,"
                     " randomized_at timestamptz NOT NULL)")
        for stratum in sorted(strata):
            conn.execute("INSERT INTO bench_entry (stratum, sequence, arm) SELECT %s, g, "
                         "CASE WHEN g %% 2 = 0 THEN 'STENTING' ELSE 'CONTINUED_MT' END FROM generate_series(1, %s) g",
                         (stratum, per_stratum))


def _baseline_integrity(expected: int) -> int:
    import psycopg

    with psycopg.connect(**_connection_params(), autocommit=True) as conn:
        dup = conn.execute("SELECT count(*) - count(DISTINCT entry_id) FROM bench_allocation").fetchone()[0]
        n = conn.execute("SELECT count(*) FROM bench_allocation").fetchone()[0]
        conn.execute("DROP TABLE bench_allocation; DROP TABLE bench_entry")
    return dup + abs(n - expected)


def _django_integrity(expected: int) -> int:
    """Entries used twice, screenings without exactly one allocation, skipped entries."""
    from randomization.models import Allocation, AllocationEntry

    allocations = list(Allocation.objects.values_list("screening_id", "entry_id", "stratum"))
    problems = len(allocations) - len({a[1] for a in allocations})  # entry used twice
    problems += abs(len({a[0] for a in allocations}) - expected)  # screenings without exactly one
    problems += abs(len(allocations) - expected)
    for stratum, k in Counter(a[2] for a in allocations).items():
        seqs = sorted(AllocationEntry.objects.filter(stratum=stratum, used=True).values_list("sequence", flat=True))
        problems += 0 if seqs == list(range(1, k + 1)) else 1  # skipped entry
    return problems


def run() -> list[str]:
    import multiprocessing

    from django.db import connections

    batches = _setup(ROUNDS + 1)
    _create_baseline_tables({stratum for batch in batches for _, _, stratum in batch},
                            _ENTRIES_PER_STRATUM * len(batches))
    connections.close_all()  # children must not share the parent's socket
    ctx = multiprocessing.get_context("fork")
    django_tasks = [[(s, u) for s, u, _ in batch] for batch in batches]
    # Baseline screening ids are positions: unique across rounds, as its UNIQUE column needs.
    baseline_tasks = [[(b * N + i, stratum) for i, (_, _, stratum) in enumerate(batch)]
                      for b, batch in enumerate(batches)]
    sides = {"baseline": [], "django": []}
    with ctx.Pool(WORKERS, initializer=_init_baseline_worker) as base_pool, \
            ctx.Pool(WORKERS, initializer=_init_django_worker,
                     initargs=([t for batch in django_tasks for t in batch],)) as django_pool:
        for pool in (base_pool, django_pool):
            pool.map(_started, range(WORKERS * 2), chunksize=1)
        for b in range(len(batches)):
            sides["baseline"].append(_round(base_pool, _baseline_task, baseline_tasks[b]))
            sides["django"].append(_round(django_pool, _django_task, django_tasks[b]))
    base_problems = _baseline_integrity(N * len(batches))
    django_problems = _django_integrity(N * len(batches))
    errors = [e for side in sides.values() for r in side for e in r["errors"]]
    counted = {name: rounds[1:] for name, rounds in sides.items()}  # round 0 warmed the workers up
    total = N * ROUNDS

    def pooled(name):
        rounds = counted[name]
        return {"wall": sum(r["wall"] for r in rounds), "lat": [x for r in rounds for x in r["lat"]],
                "cpu": sum(r["cpu"] for r in rounds)}

    def line(label, side):
        cpu = f"   CPU {side['cpu'] / total * 1000:5.2f} ms each" if side["cpu"] else ""
        return (f"{label:<28} {total / side['wall']:7.1f} randomizations/s   p50 "
                f"{statistics.median(side['lat']) * 1000:6.1f} ms   p95 {p95(side['lat']) * 1000:6.1f} ms{cpu}")

    base, django = pooled("baseline"), pooled("django")
    ratio = p95(django["lat"]) / p95(base["lat"])
    per_round = ", ".join(f"{p95(d['lat']) / p95(b['lat']):.2f}×"
                          for b, d in zip(counted["baseline"], counted["django"], strict=True))
    warm = p95(sides["django"][0]["lat"]) / p95(sides["baseline"][0]["lat"])
    out = [
        f"{ROUNDS} rounds × {N} randomizations submitted at once to {WORKERS} worker processes per side "
        "(one connection each), 6 strata, after one warm-up round per side",
        line("baseline: bare psycopg", base),
        line("subject_randomize (Django)", django),
        f"p95 ratio Django/baseline: {ratio:.2f}× (target ≤ 3×: {'met' if ratio <= 3 else 'NOT met'}); "
        f"per round {per_round}; warm-up round {warm:.2f}×; "
        f"throughput ratio {(total / django['wall']) / (total / base['wall']):.2f}",
        f"integrity errors (all rounds): Django {django_problems + len(errors)}, baseline {base_problems}",
    ]
    if errors:
        out.append(f"first errors: {errors[:3]}")
    return out
