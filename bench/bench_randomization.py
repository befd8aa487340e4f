"""200 concurrent randomizations through randomization.services.subject_randomize, next to
the bare psycopg equivalent measured in the same run on the same database: lock the
stratum's next unused entry, mark it used, insert the allocation (nothing else).

Both sides get the same 200 requests over the same 6 strata (3 sites × 2 circulations),
submitted at once to WORKERS threads, each thread with its own connection. Reported:
throughput, p50/p95 latency per randomization, the p95 ratio (target ≤ 3×) and integrity
errors (exceptions, entries used twice, skipped entries, screenings with ≠ 1 allocation).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

from bench.harness import p95

N = 200
WORKERS = 20


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


def _run_threads(tasks, fn, finish=None):
    """Run `fn(task)` for every task on WORKERS threads; `finish()` runs at the end of each
    thread (to close that thread's connection). Returns wall time, latencies, errors."""
    import queue

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    todo: queue.Queue = queue.Queue()
    for task in tasks:
        todo.put(task)
    ready = threading.Barrier(WORKERS + 1)

    def worker():
        fn(None)  # warm up: open this thread's connection before the clock starts
        ready.wait()
        while True:
            try:
                task = todo.get_nowait()
            except queue.Empty:
                break
            start = time.perf_counter()
            try:
                fn(task)
            except Exception as exc:  # counted as integrity errors
                with lock:
                    errors.append(repr(exc)[:200])
            else:
                with lock:
                    latencies.append(time.perf_counter() - start)
        if finish is not None:
            finish()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors


def _django_side(screenings):
    from django.db import connections

    from randomization.models import Allocation, AllocationEntry
    from randomization.services import subject_randomize

    def fn(task):
        if task is None:
            from django.db import connection

            connection.ensure_connection()
            return
        screening, user = task
        subject_randomize(screening=screening, user=user, notify=False)

    wall, latencies, errors = _run_threads(screenings, fn, finish=connections.close_all)
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
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
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
    local = threading.local()
    opened = []

    def fn(task):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(**params)
            opened.append(conn)
        if task is None:
            return
        screening_id, stratum = task
        with conn.transaction():
            row = conn.execute("SELECT id, arm FROM bench_entry WHERE stratum = %s AND NOT used ORDER BY sequence "
                               "LIMIT 1 FOR NO KEY UPDATE", (stratum,)).fetchone()
            conn.execute("UPDATE bench_entry SET used = true, used_at = now() WHERE id = %s", (row[0],))
            conn.execute("INSERT INTO bench_allocation (screening_id, entry_id, arm, randomized_at) VALUES (%s, %s, %s, now())",
                         (screening_id, row[0], row[1]))

    tasks = list(enumerate(strata))
    wall, latencies, errors = _run_threads(tasks, fn)
    for conn in opened:
        conn.close()
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
        f"{N} randomizations submitted at once to {WORKERS} threads (own connections), 6 strata",
        line("baseline: bare psycopg", base_wall, base_lat),
        line("subject_randomize (Django)", wall, lat),
        f"p95 ratio Django/baseline: {ratio:.2f}× (target ≤ 3×: {'met' if ratio <= 3 else 'NOT met'}); "
        f"throughput ratio {(N / wall) / (N / base_wall):.2f}",
        f"integrity errors: Django {problems}, baseline {base_problems}",
    ]
    if errors or base_errors:
        out.append(f"first errors: {(errors + base_errors)[:3]}")
    return out
