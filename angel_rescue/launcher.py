"""`make run`: everything a new user needs, on embedded defaults, in one command.

Steps: start the embedded PostgreSQL (unless DATABASE_URL) and Redis (unless
CELERY_BROKER_URL) → migrate → seed_demo (idempotent) → start a Celery worker, Celery beat
and the web server on 127.0.0.1:8000 → print the URL and the demo logins. Ctrl-C stops every
child process; data stays in var/ for the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from angel_rescue import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = os.environ.get("EDC_HOST", "127.0.0.1")
PORT = os.environ.get("EDC_PORT", "8000")


def _say(message: str) -> None:
    print(f"[edc] {message}", flush=True)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    started = time.monotonic()
    # Ctrl-C, a terminal closing, `kill` or a process manager: stop every child the same way.
    # (Set explicitly: a launcher started in the background inherits SIGINT ignored.)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.settings")
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    (BASE_DIR / "var").mkdir(exist_ok=True)
    password_file = BASE_DIR / "var" / "demo_password"
    if "DEMO_PASSWORD" not in env:
        if not password_file.exists():
            import secrets

            password_file.write_text("Demo-" + secrets.token_urlsafe(9))
        env["DEMO_PASSWORD"] = password_file.read_text().strip()

    children: list[subprocess.Popen] = []
    redis_proc = None
    own_postgres = "DATABASE_URL" not in env
    try:
        if own_postgres:
            env["DATABASE_URL"] = embedded.postgres_url()
            _say("PostgreSQL (embedded) is running in var/pgdata")
        if "CELERY_BROKER_URL" not in env:
            redis_proc = embedded.redis_start()
            env["CELERY_BROKER_URL"] = embedded.redis_url()
            _say("Redis (embedded) is running on var/run/redis.sock")

        python = sys.executable
        manage = [python, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, cwd=BASE_DIR)
        subprocess.run([*manage, "seed_demo", "--demo"], env=env, check=True, cwd=BASE_DIR)

        celery = [python, "-m", "celery", "-A", "angel_rescue"]
        children.append(subprocess.Popen(
            [*celery, "worker", "--loglevel", "warning", "--concurrency", "2"], env=env, cwd=BASE_DIR))
        children.append(subprocess.Popen(
            [*celery, "beat", "--loglevel", "warning",
             "--schedule", str(BASE_DIR / "var" / "celerybeat-schedule")], env=env, cwd=BASE_DIR))
        children.append(subprocess.Popen(
            [*manage, "runserver", f"{HOST}:{PORT}", "--noreload"], env=env, cwd=BASE_DIR))

        url = f"http://{HOST}:{PORT}/"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "account/login/", timeout=1)
                break
            except Exception:
                if any(p.poll() is not None for p in children):
                    raise RuntimeError("a child process exited during start-up") from None
                time.sleep(0.1)
        elapsed = time.monotonic() - started
        from core.demo import ACCOUNTS

        print("\n" + "=" * 64, flush=True)
        print(f"  ANGEL-RESCUE EDC is running at {url}   (ready in {elapsed:.1f} s)")
        print("  Demo logins (password: " + env["DEMO_PASSWORD"] + "):")
        for username, _f, _l, role, site in ACCOUNTS:
            print(f"    {username:<13} {role.value.replace('_', ' ')}{' at site ' + site if site else ''}")
        print("  Administrator, data manager and statistician enrol a TOTP app at first sign-in.")
        print("  Press Ctrl-C to stop everything. Data stays in var/.")
        print("=" * 64 + "\n", flush=True)
        while all(p.poll() is None for p in children):
            time.sleep(0.5)
        _say("a child process stopped; shutting down")
        return 1
    except KeyboardInterrupt:
        _say("stopping…")
        return 0
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        if own_postgres:
            embedded.postgres_stop()
        _say("stopped")


if __name__ == "__main__":
    sys.exit(main())
