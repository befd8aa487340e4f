"""Data management benchmarks (issue 7), each against a baseline measured in the same run.

1. Cost of saving a CRF with the audit triggers and reason capture (pghistory event row +
   context row carrying user and reason, plus the lock trigger) relative to the same save with
   auditing disabled (`session_replication_role = replica` switches every trigger off for the
   transaction). Target ≤ 1.5×.
2. The same save through the full datamanagement.crf_write guard (lock check, reason for
   change, edit checks, SDV and signature upkeep), relative to the same baseline (for information).
3. The monitor's query queue: number of SQL queries for the page with 100 and with 10,000
   queries in the database (must be equal), and its time at both sizes.
"""

from __future__ import annotations

import statistics
import time

ROUNDS = 5
SAVES_PER_ROUND = 100


def _setup():
    from core.models import Site, User
    from core.roles import Role
    from core.services import membership_grant
    from eligibility.models import Screening

    site = Site.objects.create(code="901", name="Bench hospital")
    coord = User.objects.create_user("bench_coord", password="x-bench-password-1", email="c@example.org")
    membership_grant(user=coord, role=Role.COORDINATOR, site=site)
    monitor = User.objects.create_user("bench_monitor", password="x-bench-password-1")
    membership_grant(user=monitor, role=Role.MONITOR, site=site)
    screening = Screening.objects.create(site=site, number="901-S0001", created_by=coord, age_years=60,
                                         prestroke_mrs=0, aspects=8, nihss_items={"1a": 1})
    return site, coord, monitor, screening


def _save_loop(screening_id, coord, mode: str, n: int) -> float:
    import pghistory
    from django.db import connection, transaction

    from audit.services import change_reason
    from datamanagement.services import crf_write
    from eligibility.models import Screening

    if mode == "disabled":
        # For the whole loop (not per transaction), so the baseline makes no extra round trip.
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    start = time.perf_counter()
    for i in range(n):
        with transaction.atomic():
            s = Screening.objects.get(pk=screening_id)
            s.age_years = 40 + (i % 40) if s.age_years != 40 + (i % 40) else 41 + (i % 40)
            s.version += 1
            if mode == "disabled":
                s.save()
            elif mode == "audited":
                with pghistory.context(user=coord.pk, username=coord.username), change_reason(f"bench change {i}"):
                    s.save()
            else:  # full data-management guard
                with pghistory.context(user=coord.pk, username=coord.username), \
                        crf_write(instance=s, user=coord, reason=f"bench change {i}"):
                    s.save()
    elapsed = (time.perf_counter() - start) / n
    if mode == "disabled":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    return elapsed


def _queue_cost(client, n_wanted, site, monitor, screening):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from datamanagement.models import Query, QueryMessage

    have = Query.objects.count()
    batch = []
    for i in range(have, n_wanted):
        batch.append(Query(crf_code="SCREENING", object_id=screening.pk, field_name="age_years",
                           object_label=screening.number, site=site, text=f"bench query {i}", opened_by=monitor,
                           status=("open", "answered", "closed")[i % 3]))
    created = Query.objects.bulk_create(batch, batch_size=2000)
    QueryMessage.objects.bulk_create([QueryMessage(query=q, kind="open", author=monitor, text=q.text)
                                      for q in created], batch_size=2000)
    client.get("/data/queries/?status=")
    times = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            response = client.get("/data/queries/?status=")
            times.append(time.perf_counter() - t)
        assert response.status_code == 200
    return len(ctx.captured_queries), statistics.median(times)


def run() -> list[str]:
    from django.test import Client

    site, coord, monitor, screening = _setup()
    lines = []
    for mode in ("disabled", "audited", "full"):  # warm-up
        _save_loop(screening.pk, coord, mode, 20)
    per = {"disabled": [], "audited": [], "full": []}
    for _ in range(ROUNDS):  # interleaved rounds: drift of the machine hits all three alike
        for mode in per:
            per[mode].append(_save_loop(screening.pk, coord, mode, SAVES_PER_ROUND))
    base = statistics.median(per["disabled"])
    audited = statistics.median(per["audited"])
    full = statistics.median(per["full"])
    ratio = audited / base
    lines.append(f"CRF save, auditing disabled (baseline): {base * 1000:.3f} ms per save")
    lines.append(f"CRF save with audit triggers + reason:  {audited * 1000:.3f} ms per save "
                 f"= {ratio:.2f}x baseline (target <= 1.5x: {'OK' if ratio <= 1.5 else 'OVER'})")
    lines.append(f"CRF save through crf_write (lock, reason, edit checks, SDV/signature upkeep): "
                 f"{full * 1000:.3f} ms = {full / base:.2f}x baseline (information)")

    client = Client()
    client.force_login(monitor)
    q100, t100 = _queue_cost(client, 100, site, monitor, screening)
    q10k, t10k = _queue_cost(client, 10_000, site, monitor, screening)
    lines.append(f"Monitor query queue: {q100} SQL queries at 100 queries, {q10k} at 10,000 "
                 f"({'equal: OK' if q100 == q10k else 'NOT EQUAL'})")
    lines.append(f"Monitor query queue page: {t100 * 1000:.1f} ms at 100, {t10k * 1000:.1f} ms at 10,000 "
                 f"= {t10k / t100:.2f}x")
    return lines
