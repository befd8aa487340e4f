"""Shared benchmark helpers: a scratch database and simple timers."""

import contextlib
import statistics
import time


@contextlib.contextmanager
def scratch_database():
    """Create a fresh database 'edc_bench', migrate it, and drop it afterwards."""
    import django
    from django.conf import settings
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    django.setup()
    settings.CELERY_TASK_ALWAYS_EAGER = True
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
