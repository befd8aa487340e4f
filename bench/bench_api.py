"""REDCap API benchmark (issue 18).

The REDCap-style `content=record` export of all records, flat CSV, through the real endpoint
(POST /api/ with a token, the streamed response read to a file; in-process WSGI client, so
no network), as the unblinded statistician (every form plus the randomization instrument).

1. At 10,000 subjects (bulk-created as in bench_exports: screening, subject, allocation,
   V2–V5 forms), against PostgreSQL `COPY (SELECT * FROM <table>) TO STDOUT` of the same
   tables into files in the same run. Target: ≤ 3×.
   Exports and COPY runs alternate (five of each; best against best).
   Each export runs in a fresh process that first makes one small request of the same kind
   (one record), as a running server has: the timing is of a warm server, not of imports.
2. Peak memory of that export at 1,000 and at 10,000 subjects, each in a fresh subprocess
   (VmHWM above the peak after start-up). Target: grows by < 50 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_exports import _bulk_subjects, _people

ROUNDS = 5
SIZES = tuple(int(n) for n in os.environ.get("EDC_BENCH_API_SIZES", "1000,10000").split(","))

CHILD = r"""
import json, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.test_settings")
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.conf import settings
from django.db import connections
settings.DATABASES["default"]["NAME"] = os.environ["EDC_BENCH_DB"]
connections["default"].settings_dict["NAME"] = os.environ["EDC_BENCH_DB"]
from django.test import Client
def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
client = Client()
client.post("/api/", {"token": os.environ["EDC_BENCH_TOKEN"], "content": "version"})
# A server is a long-running process: one small export first (one record) imports the views,
# builds the form registry's tables and compiles the instruments' SQL, as any earlier request
# of a running server would have.
warm = client.post("/api/", {"token": os.environ["EDC_BENCH_TOKEN"], "content": "record", "format": "csv",
                             "records": "001-0001"})
b"".join(warm.streaming_content)
before = hwm_kb()
t = time.perf_counter()
response = client.post("/api/", {"token": os.environ["EDC_BENCH_TOKEN"], "content": "record",
                                 "format": "csv", "type": "flat"})
size = rows = 0
with open(os.environ["EDC_BENCH_OUT"], "wb") as fh:
    for chunk in response.streaming_content:
        fh.write(chunk)
        size += len(chunk)
        rows += chunk.count(b"\n")
elapsed = time.perf_counter() - t
print(json.dumps({"before_kb": before, "peak_kb": hwm_kb(), "seconds": elapsed, "bytes": size,
                  "lines": rows, "status": response.status_code}))
"""


def _tables() -> list[str]:
    from api.redcap.project import _crf_tables

    return [crf.model._meta.db_table for crf, _t in _crf_tables()] + ["core_subject",
                                                                     "randomization_allocation"]


def _copy_baseline(directory: Path) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for name in _tables():
            with open(directory / f"{name}.csv", "wb") as fh, \
                    cursor.cursor.copy(f'COPY (SELECT * FROM "{name}") TO STDOUT WITH (FORMAT csv, HEADER)') as cp:
                for chunk in cp:
                    fh.write(chunk)
    return time.perf_counter() - started


def _export(token: str, out: Path) -> dict:
    from django.db import connection

    env = {**os.environ, "EDC_BENCH_DB": connection.settings_dict["NAME"], "EDC_BENCH_OUT": str(out),
           "EDC_BENCH_TOKEN": token}
    connection.close()
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                            cwd=str(Path(__file__).resolve().parent.parent), timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if data["status"] != 200:
        raise RuntimeError(f"HTTP {data['status']}")
    return data


def run() -> list[str]:
    from api.services import token_create
    from core.models import Subject, User

    lines = []
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    _people()
    _token, raw = token_create(user=User.objects.get(username="statistician"), label="bench")
    results = {}
    for size in SIZES:
        took = _bulk_subjects(size)
        from django.db import connection

        with connection.cursor() as cursor:
            # the tables as autovacuum keeps them on a running server (bulk inserts just
            # happened): vacuumed (hint bits and visibility map set, so that the first reader
            # does not pay for writing them) and analysed; the COPY baseline reads the same
            cursor.execute("VACUUM (ANALYZE)")
        lines.append(f"{Subject.objects.count()} subjects (bulk-created in {took:.1f} s, with V2–V5 forms)")
        results[size] = _export(raw, work / "records.csv")
        r = results[size]
        lines.append(f"REDCap record export at {size}: {r['seconds']:.2f} s, {r['bytes'] / 1e6:.1f} MB, "
                     f"{r['lines'] - 1} rows; peak RSS {r['peak_kb'] / 1024:.1f} MB (after start-up "
                     f"{r['before_kb'] / 1024:.1f} MB, growth {(r['peak_kb'] - r['before_kb']) / 1024:.1f} MB)")
    if len(SIZES) > 1:  # (one size, e.g. EDC_BENCH_API_SIZES=10000: the ratio only)
        growth = (results[SIZES[-1]]["peak_kb"] - results[SIZES[0]]["peak_kb"]) / 1024
        lines.append(f"peak memory {SIZES[0]:,} → {SIZES[-1]:,} subjects: +{growth:.1f} MB (target < 50 MB: "
                     f"{'met' if growth < 50 else 'NOT met'})")
    # The export and its baseline alternate (export, COPY, export, COPY, …), so that a change
    # of the machine's speed during the run (a shared host) weighs on both alike.
    copy_times, export_times = [], []
    for _ in range(ROUNDS):
        export_times.append(_export(raw, work / "records.csv")["seconds"])
        copy_times.append(_copy_baseline(work))
    base, full = min(copy_times), min(export_times)
    pairs = sorted(e / c for e, c in zip(export_times, copy_times, strict=True))
    lines.append(f"COPY of the same {len(_tables())} tables: {base:.2f} s (best of {ROUNDS})")
    lines.append(f"REDCap record export, flat CSV, all records: {full:.2f} s (best of {ROUNDS}, each "
                 f"run next to a COPY)")
    lines.append(f"ratio of each export to the COPY run after it: {', '.join(f'{r:.2f}' for r in pairs)}")
    lines.append(f"ratio export / COPY: {full / base:.2f}× (target ≤ 3×: {'met' if full / base <= 3 else 'NOT met'})")
    return lines
