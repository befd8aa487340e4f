"""Point-in-time recovery as the README documents it (issue 19), run for real with pgBackRest:
a PostgreSQL cluster archives its WAL with `archive-push`, a full base backup is taken, rows are
committed before and after a chosen instant, and `restore --type=time --target=<instant>`
followed by a start brings back exactly the rows committed before it.

It uses the committed docker/postgres/pgbackrest.conf (compression, retention, start-fast...)
with only the paths overridden on the command line, and Debian's PostgreSQL and pgBackRest
(`.ci/run` installs them; docker-compose.yml uses the same tool on PostgreSQL 18). PostgreSQL
and pgBackRest refuse to run as root, so a root test runs them as the `postgres` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF = REPO_ROOT / "docker" / "postgres" / "pgbackrest.conf"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


PG_BIN = _pg_bin()
TOOLS = shutil.which("pgbackrest") and PG_BIN
if not TOOLS and os.environ.get("CI"):
    raise RuntimeError("CI must provide pgbackrest and Debian's PostgreSQL server (.ci/run installs them)")
pytestmark = pytest.mark.skipif(not TOOLS, reason="pgbackrest / PostgreSQL server not installed (.ci/run installs them)")


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.data, self.repo, self.log, self.sock = (root / d for d in ("data", "repo", "log", "sock"))
        self.port = "54329"
        self.conf = root / "pgbackrest.conf"  # a copy the postgres user can read wherever the clone is
        self.as_root = os.geteuid() == 0

    def run(self, *args, check=True, **kw) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
        if check and done.returncode:
            raise AssertionError(f"{' '.join(cmd)} → {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def backrest(self, *args, pg: bool = True, connect: bool = True) -> subprocess.CompletedProcess:
        user = "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        cluster = [f"--pg1-path={self.data}"] if pg else []
        if pg and connect:  # restore works on the stopped cluster's files only
            cluster += [f"--pg1-socket-path={self.sock}", f"--pg1-port={self.port}", f"--pg1-user={user}"]
        return self.run("pgbackrest", f"--config={self.conf}", "--stanza=edc", f"--repo1-path={self.repo}", *cluster,
                        f"--log-path={self.log}", "--log-level-console=warn", *args)

    def sql(self, query: str, dbname: str = "edc") -> str:
        return self.run(PG_BIN / "psql", "-h", self.sock, "-p", self.port, "-d", dbname, "-XAtq",
                        "-v", "ON_ERROR_STOP=1", "-c", query).stdout.strip()

    def start(self):
        self.run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log / "postgres.log", "-w", "-t", "60", "start")

    def stop(self, check=True):
        self.run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=check)


@pytest.fixture
def cluster():
    root = Path(tempfile.mkdtemp(prefix="edc-pitr-"))
    c = Cluster(root)
    for d in (c.data, c.repo, c.log, c.sock):
        d.mkdir(mode=0o700)
    shutil.copyfile(CONF, c.conf)
    if c.as_root:
        for p in (root, c.data, c.repo, c.log, c.sock, c.conf):
            shutil.chown(p, "postgres", "postgres")
    c.run(PG_BIN / "initdb", "-D", c.data, "-U", "postgres" if c.as_root else pwd.getpwuid(os.geteuid()).pw_name,
          "--auth=trust", "-E", "UTF8")
    # The archiving settings of docker-compose.yml's postgres service.
    archive = (f"pgbackrest --config={c.conf} --stanza=edc --repo1-path={c.repo} --pg1-path={c.data} "
               f"--log-path={c.log} archive-push %p")
    with open(c.data / "postgresql.auto.conf", "a") as fh:
        fh.write(f"port = {c.port}\nlisten_addresses = ''\nunix_socket_directories = '{c.sock}'\n"
                 f"wal_level = replica\narchive_mode = on\narchive_command = '{archive}'\n"
                 f"archive_timeout = 60\nmax_wal_senders = 3\n")
    c.start()
    c.sql("CREATE DATABASE edc", dbname="postgres")  # the compose database (pg1-database=edc)
    try:
        yield c
    finally:
        c.stop(check=False)
        shutil.rmtree(root, ignore_errors=True)


def _wait_archived(c: Cluster, segment: str):
    for _ in range(120):
        last = c.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if last and last >= segment:
            return
        time.sleep(0.5)
    raise AssertionError(f"WAL segment {segment} was never archived; archiver: "
                         + c.sql("SELECT * FROM pg_stat_archiver"))


def test_point_in_time_recovery_with_pgbackrest_brings_back_exactly_what_was_committed_before_the_target(cluster):
    c = cluster
    c.backrest("stanza-create")
    c.backrest("check")  # archive_command works end to end
    c.backrest("--type=full", "backup")
    info = c.backrest("info", pg=False).stdout
    assert "full backup" in info, info

    c.sql("CREATE TABLE visit (id int PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp())")
    c.sql("INSERT INTO visit (id, note) SELECT g, 'before the faulty upgrade' FROM generate_series(1, 50) g")
    time.sleep(1.1)
    target = c.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(1.1)
    c.sql("INSERT INTO visit (id, note) SELECT g, 'written by the faulty upgrade' FROM generate_series(51, 80) g")
    c.sql("UPDATE visit SET note = 'damaged' WHERE id <= 10")
    segment = c.sql("SELECT pg_walfile_name(pg_switch_wal())")
    _wait_archived(c, segment)

    # The README's recovery: stop, restore to the instant, start (replays WAL, promotes).
    c.stop()
    c.backrest("--delta", "--type=time", f"--target={target}", "--target-action=promote", "restore", connect=False)
    c.start()
    for _ in range(120):
        if c.sql("SELECT pg_is_in_recovery()") == "f":
            break
        time.sleep(0.5)
    assert c.sql("SELECT pg_is_in_recovery()") == "f"
    assert c.sql("SELECT count(*), min(id), max(id) FROM visit") == "50|1|50"
    assert c.sql("SELECT count(*) FROM visit WHERE note <> 'before the faulty upgrade'") == "0"
    # the recovered cluster is writable on its new timeline and keeps archiving
    c.sql("INSERT INTO visit (id, note) VALUES (1000, 'after recovery')")
    assert int(c.sql("SELECT timeline_id FROM pg_control_checkpoint()")) >= 2
