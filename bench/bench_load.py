"""Load: the locust scenario bench/locust_edc.py — 50 concurrent site users screening,
confirming, randomizing and opening visits while a monitor reviews and an exporter exports —
against the production-shaped server (gunicorn + whitenoise, DEBUG off, a Celery worker on
an embedded Redis) on 127.0.0.1, for a bounded time (BENCH_LOAD_SECONDS, default 120 s).

The simulated people keep a person's pace (locust_edc.PACE "person"): they read each page and
fill in its inputs before the next request — the screening form takes the fast coordinator's
32 inputs (bench_eligibility) at about a second each. 50 people working at once that fast is
already far more than the whole trial's sites (312 patients in all) will ever do together.

Baseline in the same run: the randomize POST of ONE site user with nothing else running and
no pause between pages (BENCH_LOAD_ALONE_SECONDS, default 45 s, after a 10 s warm-up that is not counted). Reported: requests/s,
p50/p95 per page, errors (target 0), and the randomize POST p95 under load against its p95
alone (target ≤ 5×). Then a stress run (BENCH_LOAD_STRESS_SECONDS, default 60 s; 0 skips it):
the same users with no pause between the pages of a task, i.e. several times faster than
people — the server's capacity on this machine (requests/s, p50/p95, errors), reported beside.
Every process this benchmark starts (gunicorn, Celery, Redis, locust) is stopped at its end.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "120"))
STRESS_SECONDS = int(os.environ.get("BENCH_LOAD_STRESS_SECONDS", "60"))  # 0: no stress run
ALONE_SECONDS = int(os.environ.get("BENCH_LOAD_ALONE_SECONDS", "45"))
SITE_USERS = int(os.environ.get("BENCH_LOAD_SITE_USERS", "50"))
PASSWORD = "Load-Bench-Password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    d = connection.settings_dict
    host = d.get("HOST") or (d.get("OPTIONS") or {}).get("host") or ""
    if host.startswith("/"):
        return f"postgres://{d['USER']}@/{d['NAME']}?host={host}"
    return f"postgres://{d['USER']}:{d.get('PASSWORD') or ''}@{host}:{d.get('PORT') or 5432}/{d['NAME']}"


def _prepare(tmp: Path) -> Path:
    """Accounts (PBKDF2 passwords, as production), the living demo trial, a list large enough
    for the run, and the screening form's POST body (a browser's, for an eligible patient)."""
    from django.core.management import call_command
    from django.test import override_settings
    from django.utils import timezone

    from core.models import Site, User
    from core.roles import Role
    from core.services import membership_grant
    from eligibility.forms import ScreeningForm
    from randomization.seeding import screening_data
    from randomization.services import allocation_list_generate

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        os.environ["DEMO_PASSWORD"] = PASSWORD
        call_command("seed_demo", "--demo", stdout=open(os.devnull, "w"))
        sites = list(Site.objects.order_by("code"))
        site_users = []
        for i in range(SITE_USERS):
            site = sites[i % len(sites)]
            user = User.objects.create_user(username=f"load-inv{i:02d}", password=PASSWORD,
                                            email=f"load-inv{i:02d}@example.org")
            membership_grant(user=user, role=Role.INVESTIGATOR, site=site)
            site_users.append({"username": user.username, "site_id": site.pk})
        for name in ("load-monitor", "load-exporter"):
            user = User.objects.create_user(username=name, password=PASSWORD, email=f"{name}@example.org")
            membership_grant(user=user, role=Role.MONITOR, site=None)
    allocation_list_generate(user=User.objects.get(username="statistician"), seed="load bench",
                             entries_per_stratum=600, name="Load bench list")
    from randomization.models import AllocationList

    AllocationList.objects.filter(name="Load bench list").update(active=True)
    # The POST a browser sends for an eligible anterior-circulation patient (site zone times).
    import zoneinfo

    data = screening_data(random.Random(5), timezone.now(), posterior=False)
    data["passes"] = [{"technique": p["technique"], "etici": p["etici"]} for p in data["passes"]]
    tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    post = {}
    for key, value in ScreeningForm.initial_from_data(data).items():
        if value is None or value is False:
            continue
        if hasattr(value, "astimezone"):
            value = timezone.localtime(value, tz).strftime("%Y-%m-%dT%H:%M")
        post[key] = "on" if value is True else str(value)
    post["passes-TOTAL_FORMS"], post["passes-INITIAL_FORMS"] = str(len(data["passes"])), "0"
    for i, p in enumerate(data["passes"]):
        post[f"passes-{i}-technique"], post[f"passes-{i}-etici"] = p["technique"], p["etici"]
    # Each simulated person is already signed in (a session made as django.contrib.auth.login
    # makes it): 52 PBKDF2 sign-ins in the same seconds would measure the password hasher,
    # not people at work. Each user still signs in once through the form when the session is
    # refused (see locust_edc.py), which the report would show as "login POST".
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    sessions = {}
    for user in User.objects.filter(username__startswith="load-"):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions[user.username] = store.session_key
    for account in site_users:
        account["session"] = sessions[account["username"]]
    plan = tmp / "plan.json"
    plan.write_text(json.dumps({"password": PASSWORD, "site_users": site_users, "monitor": "load-monitor",
                                "exporter": "load-exporter", "screening_post": post, "sessions": sessions}))
    return plan


def _locust(host: str, plan: Path, tmp: Path, scenario: str, seconds: int, pace: str = "person",
            name: str = "") -> dict[str, dict]:
    users = 1 if scenario == "alone" else SITE_USERS + 2
    prefix = tmp / (name or f"{scenario}-{pace}")
    env = dict(os.environ, EDC_LOAD_PLAN=str(plan), EDC_LOAD_SCENARIO=scenario,
               EDC_LOAD_SITE_USERS=str(SITE_USERS), EDC_LOAD_PACE=pace)
    # Users start at 5/s and sign in (PBKDF2, as production); the statistics are reset once all
    # have started (--reset-stats), and the measured window that follows lasts `seconds`.
    ramp = users // 5 + 5
    subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locust_edc.py"), "--headless",
                    "-u", str(users), "-r", "5", "-t", f"{seconds + ramp}s", "--reset-stats", "--host", host,
                    "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"],
                   env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, timeout=seconds + ramp + 180)
    with open(f"{prefix}_stats.csv") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


class _LockSampler:
    """What the database sessions of the server wait for during the load, sampled 4×/s from
    pg_stat_activity: to tell lock contention (the audit chain's advisory lock, row locks such
    as a stratum's next entry) from plain CPU saturation, where sessions are active but wait
    for nothing."""

    def __init__(self, url: str):
        import threading

        self.url, self.samples, self._stop = url, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.25):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type, ''), coalesce(wait_event, ''), count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' "
                    "AND backend_type = 'client backend' GROUP BY 1, 2").fetchall()
                self.samples.append(rows)

    def report(self) -> str:
        n = len(self.samples) or 1

        def mean(pred) -> float:
            return sum(c for rows in self.samples for t, e, c in rows if pred(t, e)) / n

        def peak(pred) -> int:
            return max((sum(c for t, e, c in rows if pred(t, e)) for rows in self.samples), default=0)

        advisory = lambda t, e: t == "Lock" and e == "advisory"  # noqa: E731
        rows_ = lambda t, e: t == "Lock" and e in ("tuple", "transactionid")  # noqa: E731
        other = lambda t, e: t == "Lock" and e not in ("advisory", "tuple", "transactionid")  # noqa: E731
        return (f"PostgreSQL under load ({len(self.samples)} samples): {mean(lambda t, e: True):.2f} active sessions "
                f"on average; waiting for the audit chain's advisory lock {mean(advisory):.2f} (max {peak(advisory)}), "
                f"for a row lock {mean(rows_):.2f} (max {peak(rows_)}), other locks {mean(other):.2f}; "
                f"on I/O or commit (WAL) {mean(lambda t, e: t in ('IO', 'LWLock') or e.startswith('Wal')):.2f}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run() -> list[str]:
    from django.conf import settings

    from angel_rescue import embedded
    from angel_rescue.launcher import web_command

    tmp = Path(tempfile.mkdtemp(prefix="edc-load-"))
    plan = _prepare(tmp)
    from django.db import connections

    connections.close_all()
    port = _free_port()
    socket_path = tmp / "redis.sock"
    redis = embedded.redis_start(socket_path=socket_path, datadir=tmp)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="angel_rescue.settings", DEBUG="false",
               SECRET_KEY=settings.SECRET_KEY,  # the key the sessions above were made with
               SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false",
               CSRF_COOKIE_SECURE="false", SECURE_HSTS_SECONDS="0", ALLOWED_HOSTS="127.0.0.1",
               DATABASE_URL=_database_url(), CELERY_BROKER_URL=f"redis+socket://{socket_path}",
               EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend", EDC_EXPORT_DIR=str(tmp / "exports"),
               # Keep idle keep-alive connections longer than a simulated user's pause between
               # tasks (1–3 s): with gunicorn's default 2 s the server closes a connection just
               # as the client reuses it, and the request fails with "connection reset" — an
               # artefact of the client, which a browser retries, not an error of the EDC.
               GUNICORN_CMD_ARGS="--keep-alive 10",
               )
    env.pop("DATABASE_OWNER_URL", None)
    procs = []
    try:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                       check=True)
        server_log = open(tmp / "gunicorn.log", "w")
        procs.append(subprocess.Popen(web_command(sys.executable, "127.0.0.1", str(port)), env=env, cwd=ROOT,
                                      stdout=server_log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([sys.executable, "-m", "celery", "-A", "angel_rescue", "worker", "--loglevel",
                                       "error", "--concurrency", "1"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        host = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(host + "/healthz", timeout=1)
                break
            except Exception:
                if procs[0].poll() is not None:
                    raise RuntimeError("gunicorn exited at start-up") from None
                time.sleep(0.1)
        # Warm-up first (not counted): every gunicorn worker's first requests import and
        # compile what a running server has long done; counted, they made the baseline's p95.
        _locust(host, plan, tmp, "alone", 10, name="warm-up")
        alone = _locust(host, plan, tmp, "alone", ALONE_SECONDS)
        with _LockSampler(_database_url()) as waits:
            loaded = _locust(host, plan, tmp, "full", SECONDS)
        stress = _locust(host, plan, tmp, "full", STRESS_SECONDS, pace="stress") if STRESS_SECONDS else None
    finally:
        for proc in procs:
            _stop(proc)
        redis.terminate()
        redis.wait(timeout=10)
    total = loaded["Aggregated"]
    errors = int(total["Failure Count"])
    lines = [f"{SITE_USERS} site users + monitor + exporter at a person's pace for {SECONDS} s against gunicorn "
             f"on 127.0.0.1: "
             f"{float(total['Requests/s']):.1f} requests/s, {total['Request Count']} requests, {errors} errors "
             f"(target 0)",
             f"{'page':<34}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}"]
    for name, row in sorted(loaded.items()):
        if name == "Aggregated":
            continue
        lines.append(f"{name:<34}{row['Request Count']:>9}{row['50%']:>9}{row['95%']:>9}{row['Failure Count']:>8}")
    solo, busy = alone.get("randomize POST"), loaded.get("randomize POST")
    if solo and busy and float(solo["95%"]):
        ratio = float(busy["95%"]) / float(solo["95%"])
        lines.append(f"randomize POST p95: {busy['95%']} ms under load vs {solo['95%']} ms alone "
                     f"({solo['Request Count']} alone) = {ratio:.1f}× (target ≤ 5×)"
                     f" {'OK' if ratio <= 5 else 'ABOVE TARGET'}")
    else:
        lines.append("randomize POST: no measurement (see errors)")
    lines.append(waits.report())
    if stress is not None:
        st, sr = stress["Aggregated"], stress.get("randomize POST") or {}
        errors += int(st["Failure Count"])
        lines.append(f"stress (the same users with no pause between pages, {STRESS_SECONDS} s: the server's capacity, "
                     f"not a person's experience): {float(st['Requests/s']):.1f} requests/s, {st['Request Count']} "
                     f"requests, {st['Failure Count']} errors, p50 {st['50%']} ms, p95 {st['95%']} ms; randomize POST "
                     f"p95 {sr.get('95%', '-')} ms over {sr.get('Request Count', 0)}")
    failures = tmp / "full-person_failures.csv"
    if errors and failures.exists():
        with open(failures) as f:
            for row in list(csv.DictReader(f))[:5]:
                lines.append(f"  error: {row['Name']}: {row['Error'][:150]} ×{row['Occurrences']}")
    log = (tmp / "gunicorn.log").read_text(errors="replace").strip().splitlines()
    if errors and log:
        lines.append("  server log (last lines): " + " | ".join(log[-8:])[:1500])
    return lines
