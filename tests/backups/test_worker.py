"""Real Celery workers on a real Redis: two beats of one slot at once, and the worker doing the
backup killed with SIGKILL mid-dump and restarted — one backup set for the slot."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from backups import pgtools
from backups.manifest import MANIFEST, Manifest
from backups.models import BackupSet, BackupState
from tests.backups.conftest import current_database_runtime_url, current_database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SLOT = "daily:2030-01-01"


def start_worker(env, log, name):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "angel_rescue", "worker", "--pool=solo", "-l", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}-{time.time_ns()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def held_pg_dump(folder: Path, calls: Path, hold: Path) -> Path:
    """pg_dump that records each dump and waits while `hold` exists (the window to kill in)."""
    real = pgtools.find_tool("pg_dump", connection.pg_version // 10000)
    folder.mkdir()
    script = folder / "pg_dump"
    script.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then exec "{real}" --version; fi\n'
                      f'echo "$$" >> "{calls}"\n'
                      f'i=0; while [ -e "{hold}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n'
                      f'exec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_double_beat_and_a_killed_worker_make_exactly_one_backup(personas, tmp_path):
    from celery import Celery

    from angel_rescue.embedded import redis_start

    socket = tmp_path / "redis.sock"
    redis = redis_start(socket_path=socket, datadir=tmp_path)
    broker = f"redis+socket://{socket}"
    calls, hold = tmp_path / "dump-calls", tmp_path / "hold"
    hold.touch()
    backups_dir = tmp_path / "backups"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.backups.worker_settings",
           "DATABASE_URL": current_database_runtime_url(), "DATABASE_OWNER_URL": current_database_url(),
           "CELERY_BROKER_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false",
           "EDC_BACKUP_DIR": str(backups_dir), "EDC_EXPORT_DIR": str(tmp_path / "exports"),
           "MEDIA_ROOT": str(tmp_path / "media"), "EDC_BACKUP_TARGET": "local",
           "EDC_PG_BIN_DIR": str(held_pg_dump(tmp_path / "bin", calls, hold))}
    client = Celery(broker=broker, set_as_current=False)
    client.conf.broker_transport_options = {"visibility_timeout": 3}
    log_path = tmp_path / "worker.log"
    log = open(log_path, "w")  # noqa: SIM115
    workers = []
    try:
        workers += [start_worker(env, log, "a"), start_worker(env, log, "b")]
        # Beat fires twice for the same slot (two beat processes, or a beat restarted).
        beats = [client.send_task("backups.tasks.backup_scheduled", args=[SLOT]) for _ in range(2)]
        wait_for(lambda: calls.exists() and BackupSet.objects.filter(slot=SLOT).exists(), 60, "the first dump")
        # The other beat's task finds the slot claimed by a live worker and skips it.
        wait_for(lambda: "succeeded in" in log_path.read_text() and "'skipped'" in log_path.read_text(), 60,
                 "the second beat to be skipped")
        assert BackupSet.objects.get(slot=SLOT).state == BackupState.RUNNING
        # SIGKILL every worker while the dump is held: the claimed task's message is unacknowledged.
        for w in workers:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait(10)
        assert len(calls.read_text().split()) == 1
        assert (backups_dir / "daily-2030-01-01.partial").is_dir()
        hold.unlink()
        workers.append(start_worker(env, log, "c"))
        # acks_late: the broker redelivers the killed message; the new run finds the claim's lock
        # free (the dead worker's session ended) and takes the set over.
        wait_for(lambda: BackupSet.objects.get(slot=SLOT).state != BackupState.RUNNING, 90, "the takeover")
        backup_set = BackupSet.objects.get(slot=SLOT)
        assert backup_set.state == BackupState.SUCCEEDED, backup_set.error
        assert backup_set.attempt == 2
        # A third beat, after the set succeeded, does nothing.
        late = client.send_task("backups.tasks.backup_scheduled", args=[SLOT])
        log.flush()
        wait_for(lambda: f"{late.id}] succeeded" in log_path.read_text(), 60, "the late beat")
        assert BackupSet.objects.filter(slot=SLOT).count() == 1
        assert len(calls.read_text().split()) == 2  # the killed dump and the one that finished
        assert sorted(p.name for p in backups_dir.iterdir()) == ["daily-2030-01-01"]
        manifest = Manifest.from_bytes((backups_dir / "daily-2030-01-01" / MANIFEST).read_bytes())
        assert manifest.sha256() == backup_set.manifest_sha256
        assert backup_set.task_id in {b.id for b in beats}  # the redelivered message of the first beat
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait(10)
        client.close()
        redis.terminate()
        redis.wait(10)
        log.close()
        with connection.cursor() as cursor:
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid()")
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.1)
        connection.close()
