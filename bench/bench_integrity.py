"""The single write path (issue 17), against a baseline measured in the same run.

A follow-up CRF (V2, the 24-hour NIHSS form: 15 items, 5 UN flags) is changed and saved
1. through the one write path: the form's service `followup.services.visit24h_save`, i.e.
   access check, row lock and version, reason for change, lock check, bounds of every value,
   every hard and soft check of the registry entry, the save with its audit trigger rows
   (pghistory event + context carrying user and reason), SDV and signature upkeep;
2. as the same change saved with auditing disabled: a plain ORM save of the row with every
   trigger off (`session_replication_role = replica`) — no guard, no audit.

Target: write path ≤ 2× the baseline. The SQL statements the application sends per save are
reported for both (trigger work inside PostgreSQL is not a statement the application sends).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

ROUNDS = 5
SAVES_PER_ROUND = 60
TARGET = 2.0


def _setup():
    import time_machine
    from django.utils import timezone

    from core.models import Site, User
    from core.roles import Role
    from core.services import membership_grant
    from followup import services as fu
    from randomization.services import allocation_list_generate, subject_randomize
    from tests.factories import make_confirmed_screening

    site = Site.objects.create(code="917", name="Bench hospital", time_zone="Asia/Shanghai")
    users = {}
    for name, role in (("coord", Role.COORDINATOR), ("inv", Role.INVESTIGATOR)):
        users[name] = User.objects.create_user(f"bench_{name}", password="x-bench-password-1", email="b@example.org")
        membership_grant(user=users[name], role=role, site=site)
    stat = User.objects.create_user("bench_stat", password="x-bench-password-1")
    membership_grant(user=stat, role=Role.STATISTICIAN, site=None)
    allocation_list_generate(user=stat, seed="bench-integrity", entries_per_stratum=4, site_codes=["917"])
    t0 = timezone.now() - timedelta(hours=24)
    with time_machine.travel(t0, tick=False):
        screening = make_confirmed_screening(site=site, coordinator=users["coord"], investigator=users["inv"])
        subject = subject_randomize(screening=screening, user=users["coord"], notify=False).subject
    items = {f"nihss_i{c}": 1 for c in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9",
                                         "10", "11")}
    row = fu.visit24h_save(subject=subject, user=users["coord"], version=None,
                           data={"assessed_at": subject.randomized_at + timedelta(hours=24), **items})
    return subject, users["coord"], row, items


def _loop(mode: str, subject, coord, row_id, items, n: int, statements: list) -> float:
    """n saves; the write path is given the version the page read (as the form sends it)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from followup import services as fu
    from followup.models import Visit24h

    if mode == "disabled":
        with connection.cursor() as cursor:  # for the whole loop: no extra round trip per save
            cursor.execute("SET session_replication_role = replica")
    current = Visit24h.objects.get(pk=row_id)
    start = time.perf_counter()
    for i in range(n):
        value = 1 + (i % 2)
        with CaptureQueriesContext(connection) as ctx:
            if mode == "disabled":
                with transaction.atomic():
                    row = Visit24h.objects.select_for_update(no_key=True).get(pk=row_id)
                    row.nihss_i1a = value if row.nihss_i1a != value else 3 - value
                    row.version += 1
                    row.save()
            else:
                current = fu.visit24h_save(
                    subject=subject, user=coord, version=current.version, reason=f"bench change {i}",
                    data={"assessed_at": subject.randomized_at + timedelta(hours=24), **items,
                          "nihss_i1a": value if current.nihss_i1a != value else 3 - value})
        statements.append(len(ctx.captured_queries))
    elapsed = (time.perf_counter() - start) / n
    if mode == "disabled":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    return elapsed


def run() -> list[str]:
    from core.models import Subject

    subject, coord, row, items = _setup()
    subject = Subject.objects.select_related("site").get(pk=subject.pk)
    modes = ("disabled", "write_path")
    statements = {m: [] for m in modes}
    for mode in modes:  # warm-up
        _loop(mode, subject, coord, row.pk, items, 10, [])
    per = {m: [] for m in modes}
    for _ in range(ROUNDS):  # interleaved rounds: drift of the machine hits both alike
        for mode in modes:
            per[mode].append(_loop(mode, subject, coord, row.pk, items, SAVES_PER_ROUND, statements[mode]))
    base, full = statistics.median(per["disabled"]), statistics.median(per["write_path"])
    ratio = full / base
    return [
        f"V2 save, auditing disabled (baseline): {base * 1000:.2f} ms per save, "
        f"{statistics.median(statements['disabled']):.0f} SQL statements",
        f"V2 save through the single write path:  {full * 1000:.2f} ms per save, "
        f"{statistics.median(statements['write_path']):.0f} SQL statements "
        f"= {ratio:.2f}x baseline (target <= {TARGET:.0f}x: {'OK' if ratio <= TARGET else 'OVER'})",
    ]
