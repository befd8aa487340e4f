"""200 concurrent randomizations through randomization.services.subject_randomize, next to
the bare psycopg equivalent measured in the same run on the same database: lock the
stratum's next unused entry, mark it used, insert the allocation (nothing else).

Both sides get the same 200 requests over the same 6 strata (3 sites × 2 circulations),
submitted at once to WORKERS threads, each thread with its own connection. Reported:
throughput, p50/p95 latency per randomization, the p95 ratio (target ≤ 3×) and integrity
errors (exceptions, entries used twice, skipped entries, screenings with ≠ 1 allocation).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter

from bench.harness import p95

N = 200
# Worker processes on each side (BENCH_WORKERS to change): the 200 requests are all submitted
# at once and queue for them, as requests queue for gunicorn workers.
WORKERS = int(os.environ.get("BENCH_WORKERS", 0)) or 20


def _setup():
    from core.models import Site
    from core.roles import Role
    from randomization.services import allocation_list_generate
    from tests.conftest import make_user
    from tests.factories import make_confirmed_screening

    sites = {code: Site.objects.get_or_create(code=code, defaults={"name": f"Bench {code}"})[0]
             for code in ("001", "002", "003")}
    staff = {code: (make_user(f"bcoord{code}", Role.COORDINATOR, site), make_user(f"binv{code}", Role.INVESTIGATOR, site))
             for code, site in sites.items()}
    statistician = make_user("bstat", Role.STATISTICIAN, None)
    allocation_list_generate(user=statistician, seed="bench", entries_per_stratum=80)
    screenings = []
    for i in range(N):
        code = ("001", "002", "003")[i % 3]
        extra = {"occlusion_site": "BA", "aspects": None, "pc_aspects": 8} if i % 4 == 0 else {}
        coord, inv = staff[code]
        screenings.append((make_confirmed_screening(site=sites[code], coordinator=coord, investigator=inv, **extra),
                           coord))
    return screenings


# --- Worker processes (as gunicorn runs Django: one connection per process, no shared GIL) ---

_BASELINE_CONN = None


def _init_worker():
    from django.db import connection

    connection.ensure_connection()


def _django_task(task):
    from core.models import User
    from eligibility.models import Screening
    from randomization.services import subject_randomize

    screening_id, user_id = task
    screening, user = Screening.objects.get(pk=screening_id), User.objects.get(pk=user_id)
    start = time.perf_counter()
    try:
        subject_randomize(screening=screening, user=user, notify=False)
    except Exception as exc:  # counted as integrity errors
        return None, repr(exc)[:200]
    return time.perf_counter() - start, None


def _baseline_task(task):
    global _BASELINE_CONN
    import psycopg

    if _BASELINE_CONN is None:
        from django.db import connection

        params = connection.get_connection_params()
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        _BASELINE_CONN = psycopg.connect(**params)
    if task is None:
        return 0.0, None
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


def _baseline_warm(_):
    return _baseline_task(None)


def _warm(_):
    time.sleep(0.2)  # every worker process starts and connects before the clock starts
    return os.getpid()


def _run_processes(tasks, fn, warm=None):
    import multiprocessing

    from django.db import connections

    connections.close_all()  # children must not share the parent's socket
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(WORKERS, initializer=_init_worker) as pool:
        pool.map(warm or _warm, range(WORKERS * 2), chunksize=1)
        if warm is not None:
            pool.map(_warm, range(WORKERS * 2), chunksize=1)
        started = time.perf_counter()
        results = pool.map(fn, tasks, chunksize=1)
        wall = time.perf_counter() - started
    latencies = [r[0] for r in results if r[0] is not None]
    errors = [r[1] for r in results if r[1] is not None]
    return wall, latencies, errors


def _django_side(screenings):
    from randomization.models import Allocation, AllocationEntry

    tasks = [(s.pk, u.pk) for s, u in screenings]
    wall, latencies, errors = _run_processes(tasks, _django_task)
    allocations = list(Allocation.objects.values_list("screening_id", "entry_id", "stratum"))
    problems = len(errors)
    problems += len(allocations) - len({a[1] for a in allocations})  # entry used twice
    problems += abs(len({a[0] for a in allocations}) - N)  # screenings without exactly one
    for stratum, k in Counter(a[2] for a in allocations).items():
        seqs = sorted(AllocationEntry.objects.filter(stratum=stratum, used=True).values_list("sequence", flat=True))
        problems += 0 if seqs == list(range(1, k + 1)) else 1  # skipped entry
    return wall, latencies, problems, errors


def _baseline_side(strata: list[str]):
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_allocation; DROP TABLE IF EXISTS bench_entry")
        conn.execute("CREATE TABLE bench_entry (id bigserial PRIMARY KEY, stratum text NOT NULL, sequence int NOT NULL,"
                     " arm text NOT NULL, used boolean NOT NULL DEFAULT false, used_at timestamptz,"
                     " UNIQUE (stratum, sequence))")
        conn.execute("CREATE INDEX bench_entry_next ON bench_entry (stratum, sequence) WHERE NOT used")
        conn.execute("CREATE TABLE bench_allocation (id bigserial PRIMARY KEY, screening_id int UNIQUE NOT NULL,"
                     " entry_id bigint UNIQUE NOT NULL REFERENCES bench_entry, arm text NOT NULL,"
                     " randomized_at timestamptz NOT NULL)")
        for stratum in sorted(set(strata)):
            conn.execute("INSERT INTO bench_entry (stratum, sequence, arm) SELECT %s, g, "
                         "CASE WHEN g %% 2 = 0 THEN 'STENTING' ELSE 'CONTINUED_MT' END FROM generate_series(1, 80) g",
                         (stratum,))
    wall, latencies, errors = _run_processes(list(enumerate(strata)), _baseline_task, warm=_baseline_warm)
    with psycopg.connect(**params, autocommit=True) as conn:
        dup = conn.execute("SELECT count(*) - count(DISTINCT entry_id) FROM bench_allocation").fetchone()[0]
        n = conn.execute("SELECT count(*) FROM bench_allocation").fetchone()[0]
        conn.execute("DROP TABLE bench_allocation; DROP TABLE bench_entry")
    return wall, latencies, len(errors) + dup + abs(n - N), errors


def run() -> list[str]:
    screenings = _setup()
    strata = [f"{s.site.code}-{s.circulation}" for s, _ in screenings]
    base_wall, base_lat, base_problems, base_errors = _baseline_side(strata)
    wall, lat, problems, errors = _django_side(screenings)

    def line(name, wall_s, latencies):
        return (f"{name:<28} {N / wall_s:7.1f} randomizations/s   p50 {statistics.median(latencies) * 1000:6.1f} ms"
                f"   p95 {p95(latencies) * 1000:6.1f} ms")

    ratio = p95(lat) / p95(base_lat)
    out = [
        f"{N} randomizations submitted at once to {WORKERS} worker processes (one connection each), 6 strata",
        line("baseline: bare psycopg", base_wall, base_lat),
        line("subject_randomize (Django)", wall, lat),
        f"p95 ratio Django/baseline: {ratio:.2f}× (target ≤ 3×: {'met' if ratio <= 3 else 'NOT met'}); "
        f"throughput ratio {(N / wall) / (N / base_wall):.2f}",
        f"integrity errors: Django {problems}, baseline {base_problems}",
    ]
    if errors or base_errors:
        out.append(f"first errors: {(errors + base_errors)[:3]}")
    return out
