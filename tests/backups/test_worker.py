"""Real Celery workers on a real Redis: two beats of one slot at once, and the worker doing the
backup killed with SIGKILL mid-dump and restarted — one backup set for the slot."""

import stat
from pathlib import Path

import pytest
from django.db import connection

from backups import pgtools
from backups.manifest import MANIFEST, Manifest
from backups.models import BackupSet, BackupState
from tests.backups.conftest import current_database_runtime_url, current_database_url
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SLOT = "daily:2030-01-01"


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


def test_double_beat_and_a_killed_worker_make_exactly_one_backup(personas, tmp_path, celery_harness):
    harness = celery_harness
    calls, hold = tmp_path / "dump-calls", tmp_path / "hold"
    hold.touch()
    backups_dir = tmp_path / "backups"
    env = harness.env("tests.backups.worker_settings",
                      DATABASE_URL=current_database_runtime_url(), DATABASE_OWNER_URL=current_database_url(),
                      EDC_BACKUP_DIR=str(backups_dir), EDC_EXPORT_DIR=str(tmp_path / "exports"),
                      MEDIA_ROOT=str(tmp_path / "media"), EDC_BACKUP_TARGET="local",
                      EDC_PG_BIN_DIR=str(held_pg_dump(tmp_path / "bin", calls, hold)))
    client = harness.client
    workers = [harness.start_worker(env, "a"), harness.start_worker(env, "b")]
    # Beat fires twice for the same slot (two beat processes, or a beat restarted).
    beats = [client.send_task("backups.tasks.backup_scheduled", args=[SLOT]) for _ in range(2)]
    wait_for(lambda: calls.exists() and BackupSet.objects.filter(slot=SLOT).exists(), 60, "the first dump")
    # The other beat's task finds the slot claimed by a live worker and skips it.
    wait_for(lambda: "succeeded in" in harness.log_text() and "'skipped'" in harness.log_text(), 60,
             "the second beat to be skipped")
    assert BackupSet.objects.get(slot=SLOT).state == BackupState.RUNNING
    # SIGKILL every worker while the dump is held: the claimed task's message is unacknowledged.
    for w in workers:
        harness.kill(w)
    assert len(calls.read_text().split()) == 1
    assert (backups_dir / "daily-2030-01-01.partial").is_dir()
    hold.unlink()
    harness.start_worker(env, "c")
    # acks_late: the broker redelivers the killed message; the new run finds the claim's lock
    # free (the dead worker's session ended) and takes the set over.
    wait_for(lambda: BackupSet.objects.get(slot=SLOT).state != BackupState.RUNNING, 90, "the takeover")
    backup_set = BackupSet.objects.get(slot=SLOT)
    assert backup_set.state == BackupState.SUCCEEDED, backup_set.error
    assert backup_set.attempt == 2
    # A third beat, after the set succeeded, does nothing.
    late = client.send_task("backups.tasks.backup_scheduled", args=[SLOT])
    harness.wait_for_log(f"{late.id}] succeeded", 60, "the late beat")
    assert BackupSet.objects.filter(slot=SLOT).count() == 1
    assert len(calls.read_text().split()) == 2  # the killed dump and the one that finished
    assert sorted(p.name for p in backups_dir.iterdir()) == ["daily-2030-01-01"]
    manifest = Manifest.from_bytes((backups_dir / "daily-2030-01-01" / MANIFEST).read_bytes())
    assert manifest.sha256() == backup_set.manifest_sha256
    assert backup_set.task_id in {b.id for b in beats}  # the redelivered message of the first beat
