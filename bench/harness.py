"""Shared benchmark helpers: a scratch database and simple timers."""

import contextlib
import os
import statistics
import time

import dj_database_url


@contextlib.contextmanager
def scratch_database():
    """Create a fresh database 'edc_bench', migrate it, and drop it afterwards."""
    import django
    from django.conf import settings
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    django.setup()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    if not os.environ.get("DATABASE_URL"):
        # The embedded cluster's superuser: a benchmark baseline switches the audit triggers off
        # (session_replication_role), which neither the owner nor the runtime role may do.
        from angel_rescue import embedded

        superuser = dj_database_url.parse(embedded.postgres_superuser_url())["USER"]
        connections["default"].settings_dict["USER"] = superuser
        settings.EDC_DB_OWNER = {**settings.EDC_DB_OWNER, "USER": superuser}
    # Its own database name, so a benchmark never collides with a test run's test_postgres.
    connections["default"].settings_dict.setdefault("TEST", {})["NAME"] = "edc_bench"
    old = setup_databases(verbosity=0, interactive=False, keepdb=False,
                          aliases=["default"], serialized_aliases=[])
    try:
        yield
    finally:
        connections.close_all()
        teardown_databases(old, verbosity=0)


def timed(fn, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20)[18]


def count_queries(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def system_cpu_seconds() -> float | None:
    """CPU time all processes of the machine have used so far (user + system, all cores), from
    /proc/stat; None where that is not available. A difference over a timed window tells how
    much CPU the work inside it cost, whichever processes (clients, PostgreSQL) did it."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
