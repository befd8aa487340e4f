"""`make run`: everything a new user needs, on embedded defaults, in one command.

Steps: start the embedded PostgreSQL (unless DATABASE_URL) and Redis (unless
CELERY_BROKER_URL) → migrate → seed_demo --demo (the living demo trial, once) → collect the
static files → start a Celery worker, Celery beat and the web server on 127.0.0.1:8000 →
print the URL and the demo logins. Ctrl-C stops every child process and the embedded servers;
data stays in var/ for the next run.

The web server is the production one: gunicorn with whitenoise serving the compressed,
fingerprinted static files, DEBUG off, so errors show the application's own 403/404/500 pages.
Development conveniences stay where they help: embedded servers, e-mails written to
var/mail, a secret key generated once in var/, plain HTTP on 127.0.0.1 (no HTTPS redirect or
secure-only cookies), the demo accounts. `EDC_DEV_SERVER=1` runs Django's runserver instead.
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


def web_command(python: str, host: str, port: str, workers: int | None = None) -> list[str]:
    """gunicorn as the Dockerfile runs it (also used by `make bench`'s load test)."""
    workers = workers or int(os.environ.get("EDC_WEB_WORKERS", "3"))
    return [python, "-m", "gunicorn", "angel_rescue.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", "4", "--timeout", "60", "--graceful-timeout", "10",
            "--access-logfile", "-" if os.environ.get("EDC_ACCESS_LOG") else "/dev/null", "--log-level", "warning"]


def main() -> int:
    started = time.monotonic()
    # Ctrl-C, a terminal closing, `kill` or a process manager: stop every child the same way.
    # (Set explicitly: a launcher started in the background inherits SIGINT ignored.)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    env = dict(os.environ)
    dev_server = env.get("EDC_DEV_SERVER") == "1"
    (BASE_DIR / "var").mkdir(exist_ok=True)
    env.setdefault("DEBUG", "true" if dev_server else "false")
    env.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.settings")
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    # Production-shaped, on plain HTTP at 127.0.0.1 (a TLS proxy is the deployment's job).
    key_file = BASE_DIR / "var" / "secret_key"
    if "SECRET_KEY" not in env:
        if not key_file.exists():
            import secrets

            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        env["SECRET_KEY"] = key_file.read_text().strip()
    for name, value in (("SECURE_SSL_REDIRECT", "false"), ("SESSION_COOKIE_SECURE", "false"),
                        ("CSRF_COOKIE_SECURE", "false"), ("SECURE_HSTS_SECONDS", "0"),
                        ("ALLOWED_HOSTS", f"{HOST},127.0.0.1,localhost"),
                        ("EDC_BASE_URL", f"http://{HOST}:{PORT}")):
        env.setdefault(name, value)
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
            # Two roles, as in production: migrate runs as the owner, everything else as the
            # least-privilege runtime role (audit/dbroles.py).
            env["DATABASE_URL"], env["DATABASE_OWNER_URL"] = embedded.postgres_urls()
            _say("PostgreSQL (embedded) is running in var/pgdata (roles edc_owner, edc_app)")
        if "CELERY_BROKER_URL" not in env:
            redis_proc = embedded.redis_start()
            env["CELERY_BROKER_URL"] = embedded.redis_url()
            _say("Redis (embedded) is running on var/run/redis.sock")

        python = sys.executable
        manage = [python, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, cwd=BASE_DIR)
        subprocess.run([*manage, "seed_demo", "--demo"], env=env, check=True, cwd=BASE_DIR)
        if not dev_server:
            subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=env, check=True, cwd=BASE_DIR)

        celery = [python, "-m", "celery", "-A", "angel_rescue"]
        children.append(subprocess.Popen(
            [*celery, "worker", "--loglevel", "warning", "--concurrency", "2"], env=env, cwd=BASE_DIR))
        children.append(subprocess.Popen(
            [*celery, "beat", "--loglevel", "warning",
             "--schedule", str(BASE_DIR / "var" / "celerybeat-schedule")], env=env, cwd=BASE_DIR))
        if dev_server:
            web = [*manage, "runserver", f"{HOST}:{PORT}", "--noreload"]
        else:
            web = web_command(python, HOST, PORT)
        children.append(subprocess.Popen(web, env=env, cwd=BASE_DIR))

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
