"""`make bench`: every benchmark of the project, each measured against a baseline in the
same run on the same machine, reported as ratios (never as timed tests).

Each module bench/bench_*.py defines `run() -> list[str]` (lines to print). They run in
name order against the embedded PostgreSQL (or DATABASE_URL) in a scratch database.
"""

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.test_settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.harness import scratch_database

    only = sys.argv[1:]
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if m.name.startswith("bench_"))
    failures = 0
    for name in names:
        if only and not any(o in name for o in only):
            continue
        print(f"\n== {name} ==", flush=True)
        started = time.monotonic()
        # Each benchmark gets a freshly migrated database of its own.
        with scratch_database():
            try:
                module = importlib.import_module(f"bench.{name}")
                for line in module.run():
                    print("  " + line, flush=True)
            except Exception as exc:  # report and go on with the other benchmarks
                failures += 1
                print(f"  FAILED: {exc!r}", flush=True)
        print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
