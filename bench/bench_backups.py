"""Backups benchmark (issue 19): at 10,000 subjects, a whole backup set (snapshot, row counts,
migration state, pg_dump custom format streamed with SHA-256, manifest, read-back verification,
retention) against a bare `pg_dump --format=custom -f FILE` of the same database; and
`backup_restore` (checksums first, empty-database check, pg_restore, row counts, drill record)
against a bare `pg_restore -d` into an empty database — both in the same run, each measured
twice alternately and the faster of each taken. Target ≤ 1.3× each."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

N_SUBJECTS = 10_000
TARGET = 1.3


def _admin(sql: str) -> None:

    from backups import pgtools

    params = pgtools.params_from_url(pgtools.owner_url())
    params["dbname"] = "postgres"
    with pgtools.connect(params, autocommit=True) as conn:
        conn.execute(sql)


def _empty_database() -> tuple[str, str]:
    import urllib.parse

    from backups import pgtools

    name = f"edc_bench_restore_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    return name, urllib.parse.urlunsplit(urllib.parse.urlsplit(pgtools.owner_url())._replace(path="/" + name))


def run() -> list[str]:
    from django.conf import settings
    from django.db import connection

    from backups import pgtools, restore, services
    from backups.targets import LocalTarget
    from bench.bench_exports import _bulk_subjects, _people

    if not os.environ.get("DATABASE_URL"):
        # bench.harness migrates the scratch database as the embedded superuser, so that role
        # owns every table: it is the owner the backup connects as here.
        from angel_rescue import embedded

        settings.DATABASE_OWNER_URL = embedded.postgres_superuser_url()
    _people()
    seeded = _bulk_subjects(N_SUBJECTS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum keeps a production database analyzed
    work = Path(tempfile.mkdtemp(prefix="edc-bench-backups-"))
    settings.EDC_BACKUP_TARGET = "local"
    settings.EDC_BACKUP_DIR = work / "sets"
    settings.EDC_EXPORT_DIR = work / "exports"  # empty: the database is what is measured
    settings.MEDIA_ROOT = work / "media"
    settings.EDC_BACKUP_ENCRYPTION_KEY = settings.EDC_BACKUP_ENCRYPTION_KEY_FILE = ""
    params = pgtools.owner_params()
    major = connection.pg_version // 10000
    pg_dump, pg_restore = pgtools.find_tool("pg_dump", major), pgtools.find_tool("pg_restore", major)
    env = pgtools.libpq_env(params)

    def bare_dump(i):
        started = time.perf_counter()
        subprocess.run([str(pg_dump), "--format=custom", "--no-password", "-f", str(work / f"bare{i}.dump")],
                       env=env, check=True)
        return time.perf_counter() - started

    sets = []

    def our_backup(i):
        started = time.perf_counter()
        sets.append(services.backup_manual(slot=f"manual:bench-{i}", by=None))
        return time.perf_counter() - started

    bare_b, ours_b = [], []
    for i in range(2):
        bare_b.append(bare_dump(i))
        ours_b.append(our_backup(i))
    backup_set = sets[-1]
    dump_size = (work / "bare1.dump").stat().st_size

    created = []

    def bare_restore(i):
        name, url = _empty_database()
        created.append(name)
        p = pgtools.params_from_url(url)
        started = time.perf_counter()
        subprocess.run([str(pg_restore), "--no-password", "-d", p["dbname"], str(work / "bare1.dump")],
                       env=pgtools.libpq_env(p), check=True)
        return time.perf_counter() - started

    phases = []

    def our_restore(i):
        name, url = _empty_database()
        created.append(name)
        started = time.perf_counter()
        result = restore.restore_set(set_id=backup_set.set_id, into_url=url, target=LocalTarget(settings.EDC_BACKUP_DIR),
                                     key=None)
        restore.drill_record(set_id=backup_set.set_id, into=result.into, result=result, error=None,
                             seconds=result.seconds)
        phases.append(result.timings)
        return time.perf_counter() - started

    bare_r, ours_r = [], []
    try:
        for i in range(2):
            bare_r.append(bare_restore(i))
            ours_r.append(our_restore(i))
    finally:
        for name in created:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for f in work.glob("bare*.dump"):
            os.remove(f)
    rb, rr = min(ours_b) / min(bare_b), min(ours_r) / min(bare_r)
    best = phases[ours_r.index(min(ours_r))]
    chain_s = best.get("audit_chain", 0.0)
    rr_no_chain = (min(ours_r) - chain_s) / min(bare_r)
    rows = sum(backup_set.manifest["row_counts"].values())
    return [
        f"database: {N_SUBJECTS:,} subjects (bulk-seeded in {seeded:.1f} s), {len(backup_set.manifest['row_counts'])} "
        f"tables, {rows:,} rows; custom-format dump {dump_size / 1e6:.1f} MB",
        f"backup set: {min(ours_b):.2f} s vs bare pg_dump {min(bare_b):.2f} s = {rb:.2f}× "
        f"({'OK' if rb <= TARGET else 'OVER'} target ≤ {TARGET}×; runs {', '.join(f'{t:.2f}' for t in ours_b)} / "
        f"{', '.join(f'{t:.2f}' for t in bare_b)} s)",
        f"backup_restore: {min(ours_r):.2f} s vs bare pg_restore {min(bare_r):.2f} s = {rr:.2f}× "
        f"({'OK' if rr <= TARGET else 'OVER'} target ≤ {TARGET}×; runs {', '.join(f'{t:.2f}' for t in ours_r)} / "
        f"{', '.join(f'{t:.2f}' for t in bare_r)} s)",
        f"  of which: {', '.join(f'{k} {v:.2f} s' for k, v in best.items())}; without the audit chain "
        f"verification (issue 12's verify_chain, {chain_s:.2f} s): {rr_no_chain:.2f}×",
    ]
