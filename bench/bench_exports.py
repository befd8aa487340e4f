"""Exports benchmark (issue 8).

1. How fast the real services seed subjects (`seed_demo --subjects N` path), measured on a
   few subjects and extrapolated to 10,000 — too slow for a benchmark run, so the 10,000
   subjects are then bulk-created as synthetic rows (screening, subject, allocation and the
   follow-up forms V2–V5) with bulk_create (the pghistory triggers still fire).
2. Full CSV export (export_run: every form by COPY, the analysis table with derived
   endpoints, the data dictionary, the ZIP and its SHA-256) against a bare PostgreSQL
   `COPY (SELECT * FROM <table>) TO STDOUT` of the same tables into a file, in the same run.
   Target: ≤ 3×.
3. Peak memory of each file format (ODM, XPT, DTA, SAV, Dataset-JSON) at 1,000 and at 10,000
   subjects, each in a fresh subprocess (peak RSS, VmHWM, so C memory counts).
   Target: grows by < 50 MB from 1,000 to 10,000 for every format.
4. Issue 13: at 10,000 subjects the time of each of XPT (SAS V5), DTA, SAV and Dataset-JSON
   (the data dictionary, every form table and the analysis table, as runner.build writes
   them; best of 3 fresh processes) next to the bare COPY of the same form tables (best of
   3) in the same run. Target: ≤ 5× for each.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REAL_SEED_SAMPLE = 30
SIZES = (1000, 10000)


def _people():
    import io

    from django.core.management import call_command

    os.environ.setdefault("DEMO_PASSWORD", "Bench-Password-2026")
    call_command("seed_demo", stdout=io.StringIO())


def _real_seed_rate() -> float:
    """Seconds per subject through the real services (screen, confirm, randomize)."""
    import io

    from django.core.management import call_command

    started = time.perf_counter()
    call_command("seed_demo", "--subjects", str(REAL_SEED_SAMPLE), stdout=io.StringIO())
    return (time.perf_counter() - started) / REAL_SEED_SAMPLE


def _bulk_subjects(total: int) -> float:
    """Bulk-create synthetic subjects until there are `total`; returns the seconds it took."""
    from django.db import transaction

    from core.models import Site, Subject, User
    from eligibility.models import Screening
    from followup import models as fu
    from randomization.models import Allocation

    started = time.perf_counter()
    existing = Subject.objects.count()
    sites = list(Site.objects.order_by("code"))
    coord = User.objects.get(username="coord001")
    rng = random.Random(total)
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic():
        counters = {s.pk: Subject.objects.filter(site=s).count() for s in sites}
        scr_counters = {s.pk: Screening.objects.filter(site=s).count() for s in sites}
        screenings, subjects = [], []
        for i in range(existing, total):
            site = sites[i % len(sites)]
            counters[site.pk] += 1
            scr_counters[site.pk] += 1
            at = now - dt.timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1440))
            screenings.append(Screening(
                site=site, number=f"{site.code}-S{scr_counters[site.pk]:04d}", created_by=coord,
                age_years=rng.randint(35, 88), sex=rng.choice(["female", "male"]), prestroke_mrs=0,
                last_known_well=at - dt.timedelta(hours=5), arterial_puncture_at=at - dt.timedelta(hours=1),
                nihss_items={"1a": 1, "5a": 3}, nihss_baseline=rng.randint(6, 30),
                occlusion_site="MCA_M1", circulation="anterior", aspects=rng.randint(6, 10),
                evt_intended=True, platelets=Decimal(rng.randint(100, 400)), inr=Decimal("1.02"),
                consent="patient", consent_at=at - dt.timedelta(minutes=30),
                verdict_status="eligible", outcome="randomized", confirmed_by=coord, confirmed_at=at,
                closed_reason_text="患者同意 — 中文" if i % 7 == 0 else ""))
            subjects.append(Subject(number=f"{site.code}-{counters[site.pk]:04d}", site=site,
                                    randomized_at=at))
        Screening.objects.bulk_create(screenings, batch_size=2000)
        Subject.objects.bulk_create(subjects, batch_size=2000)
        Allocation.objects.bulk_create([
            Allocation(screening=s, subject=sub, method="minimisation",
                       arm=rng.choice(["STENTING", "CONTINUED_MT"]), stratum=f"{sub.site.code}-anterior",
                       randomized_at=sub.randomized_at, randomized_by=coord)
            for s, sub in zip(screenings, subjects, strict=True)], batch_size=2000)
        fu.Visit24h.objects.bulk_create([
            fu.Visit24h(subject=s, created_by=coord, assessed_at=s.randomized_at + dt.timedelta(hours=24))
            for s in subjects], batch_size=2000)
        fu.Visit48h.objects.bulk_create([
            fu.Visit48h(subject=s, created_by=coord, imaging_modality="ct", new_ich=i % 10 == 0,
                        imaging_at=s.randomized_at + dt.timedelta(hours=30),
                        sich_heidelberg=i % 25 == 0, sich_ecass3=i % 30 == 0, sich_sits_most=i % 40 == 0)
            for i, s in enumerate(subjects)], batch_size=2000)
        fu.Visit7d.objects.bulk_create([
            fu.Visit7d(subject=s, created_by=coord, assessed_on=(s.randomized_at + dt.timedelta(days=7)).date(),
                       mrs_discharge=rng.randint(0, 5)) for s in subjects], batch_size=2000)
        fu.Day90.objects.bulk_create([
            fu.Day90(subject=s, created_by=coord, assessed_on=(s.randomized_at + dt.timedelta(days=90)).date(),
                     mode="phone", respondent="patient", blinded_attested=True, mrs=rng.randint(0, 6))
            for s in subjects if s.randomized_at < now - dt.timedelta(days=90)], batch_size=2000)
    # Planner statistics, as autovacuum keeps them on a live database; without them the plans
    # of a freshly bulk-loaded database depend on whether autovacuum has run yet.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def _copy_baseline(directory: Path) -> float:
    """COPY every exported table (all columns) to files, as PostgreSQL alone would."""
    from django.db import connection

    from exports.columns import exported_crfs

    tables = [c.model._meta.db_table for c in exported_crfs(blinded=True)] + ["core_subject"]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for name in tables:
            with open(directory / f"{name}.csv", "wb") as fh, \
                    cursor.cursor.copy(f'COPY (SELECT * FROM "{name}") TO STDOUT WITH (FORMAT csv, HEADER)') as cp:
                for chunk in cp:
                    fh.write(chunk)
    return time.perf_counter() - started


def _csv_export(user) -> tuple[float, dict]:
    from exports.services import export_request, export_run

    started = time.perf_counter()
    export = export_request(user=user, formats=["csv"], dispatch=False)
    export = export_run(export_id=export.pk)
    elapsed = time.perf_counter() - started
    assert export.status == "done", export.error
    return elapsed, export.row_counts["csv"]


FORMAT_CHILD = r"""
import json, os, sys, time
from pathlib import Path
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.test_settings")
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.conf import settings
from django.db import connections
settings.DATABASES["default"]["NAME"] = os.environ["EDC_BENCH_DB"]
connections["default"].settings_dict["NAME"] = os.environ["EDC_BENCH_DB"]
from core.models import Site
from exports import runner
from exports.dataset import Scope
scope = Scope(blinded=True, site_ids=tuple(Site.objects.values_list("pk", flat=True)))
fmt = os.environ["EDC_BENCH_FORMAT"]
out = Path(os.environ["EDC_BENCH_OUT"])
def hwm_kb():
    # VmHWM: this process's peak RSS. (ru_maxrss would include the parent's size at fork.)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = hwm_kb()
t = time.perf_counter()
counts = runner.build(scope=scope, formats=[fmt], directory=out, file_oid="bench")
elapsed = time.perf_counter() - t
after = hwm_kb()
size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
print(json.dumps({"before_kb": before, "peak_kb": after, "seconds": elapsed, "bytes": size,
                  "rows": sum(v for v in counts[fmt].values())}))
"""

FORMATS = ("odm", "xpt", "dta", "sav", "datasetjson")
RATIO_FORMATS = ("xpt", "dta", "sav", "datasetjson")
RATIO_RUNS = 3


def _format_run(directory: Path, fmt: str) -> dict:
    """One format written by runner.build in a fresh subprocess: time, peak memory, size."""
    import shutil

    from django.db import connection

    out = directory / f"out-{fmt}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "EDC_BENCH_DB": connection.settings_dict["NAME"], "EDC_BENCH_OUT": str(out),
           "EDC_BENCH_FORMAT": fmt}
    connection.close()
    result = subprocess.run([sys.executable, "-c", FORMAT_CHILD], env=env, capture_output=True, text=True,
                            cwd=str(Path(__file__).resolve().parent.parent), timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run() -> list[str]:
    from django.conf import settings

    from core.models import Subject, User

    lines = []
    work = Path(tempfile.mkdtemp(prefix="bench-exports-"))
    settings.EDC_EXPORT_DIR = work / "store"
    _people()
    per_subject = _real_seed_rate()
    lines.append(f"real services (seed_demo --subjects {REAL_SEED_SAMPLE}): {per_subject * 1000:.0f} ms/subject "
                 f"→ ~{per_subject * 10000 / 60:.0f} min for 10,000 (too slow here); the rest is bulk-created")
    user = User.objects.get(username="datamanager")
    memory: dict[int, dict[str, dict]] = {}
    for size in SIZES:
        took = _bulk_subjects(size)
        lines.append(f"{Subject.objects.count()} subjects (bulk-created in {took:.1f} s, with V2–V5 forms)")
        memory[size] = {fmt: _format_run(work, fmt) for fmt in FORMATS}
        for fmt, m in memory[size].items():
            lines.append(f"{fmt} export at {size}: {m['seconds']:.1f} s, {m['bytes'] / 1e6:.1f} MB, "
                         f"{m['rows']} rows; peak RSS {m['peak_kb'] / 1024:.1f} MB "
                         f"(after start-up {m['before_kb'] / 1024:.1f} MB)")
    for fmt in FORMATS:
        growth = (memory[SIZES[1]][fmt]["peak_kb"] - memory[SIZES[0]][fmt]["peak_kb"]) / 1024
        lines.append(f"{fmt} peak memory 1,000 → 10,000 subjects: {growth:+.1f} MB (target < 50 MB: "
                     f"{'met' if growth < 50 else 'NOT met'})")
    copy_times, export_times = [], []
    for _ in range(3):
        copy_times.append(_copy_baseline(work))
        elapsed, counts = _csv_export(user)
        export_times.append(elapsed)
    base, full = min(copy_times), min(export_times)
    lines.append(f"COPY of the same {len(counts) - 1} tables + subjects: {base:.2f} s (best of 3)")
    lines.append(f"full CSV export (tables by COPY, analysis table with derived endpoints, dictionary, "
                 f"ZIP, SHA-256): {full:.2f} s (best of 3), rows {counts}")
    lines.append(f"ratio export / COPY: {full / base:.2f}× (target ≤ 3×: {'met' if full / base <= 3 else 'NOT met'})")
    for fmt in RATIO_FORMATS:
        # Best of RATIO_RUNS fresh processes, as the COPY is the best of 3 (a loaded machine).
        runs = [memory[SIZES[1]][fmt]["seconds"]] + [_format_run(work, fmt)["seconds"]
                                                     for _ in range(RATIO_RUNS - 1)]
        took = min(runs)
        lines.append(f"{fmt} at {SIZES[1]} subjects: {took:.2f} s (best of {len(runs)}: "
                     f"{', '.join(f'{r:.2f}' for r in runs)}) = {took / base:.2f}× the COPY "
                     f"(target ≤ 5×: {'met' if took / base <= 5 else 'NOT met'})")
    return lines
