"""The disaster-recovery drill and the refusals of backup_restore, on the real PostgreSQL."""

import base64
import os
import stat
import time
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from backups import chain, pgtools, services
from backups.manifest import DUMP, EXCLUDED_DATA, MANIFEST, SIGNATURE, Manifest
from backups.models import BackupSet, BackupState, RestoreDrill
from backups.restore import django_database
from core.models import Notification
from tests.backups.conftest import admin_execute, current_database_url, drop_database, url_of

pytestmark = pytest.mark.django_db(transaction=True)


def table_fingerprints(conn) -> dict[str, tuple[int, str]]:
    """(row count, checksum of the contents) of every table, order-independent."""
    from psycopg import sql

    out = {}
    for schema, name in services._tables(conn):
        query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) "
                        "FROM {}.{} t").format(sql.Identifier(schema), sql.Identifier(name))
        out[services.table_label(schema, name)] = tuple(conn.execute(query).fetchone())
    return out


def fingerprints(dbname: str) -> dict:
    params = pgtools.params_from_url(url_of(dbname))
    with pgtools.connect(params, autocommit=True) as conn:
        return table_fingerprints(conn)


def is_empty(dbname: str) -> bool:
    with pgtools.connect(pgtools.params_from_url(url_of(dbname)), autocommit=True) as conn:
        return services._tables(conn) == []


def _copy_database(src: str, dst: str) -> None:
    """A copy of the migrated test database by pg_dump | pg_restore with the server's own tools
    (not CREATE DATABASE … TEMPLATE, which needs every other session of the template ended —
    sessions of the other tests of this worker)."""
    import subprocess

    params = pgtools.params_from_url(url_of(src))
    with pgtools.connect(params, autocommit=True) as conn:
        major = pgtools.server_major(conn)
    admin_execute(f'CREATE DATABASE "{dst}"')
    env = pgtools.libpq_env(params)
    dump = subprocess.run([str(pgtools.find_tool("pg_dump", major)), "--format=custom", "--no-password"],
                          env=env, check=True, capture_output=True).stdout
    subprocess.run([str(pgtools.find_tool("pg_restore", major)), "--no-password", "--exit-on-error",
                    "-d", dst], input=dump, env=env, check=True, capture_output=True)


def test_drill_seed_backup_drop_restore_compare_verify_and_serve_a_casebook(backup_folders, scratch_database):
    """Seed a study in its own database, back it up, DROP that database, restore the set into a
    fresh one, and prove the copy: every table's row count and content checksum, the audit
    chain, a casebook served from it, the export and uploaded files."""
    test_db = connection.settings_dict["NAME"]
    source = f"{test_db}_drill_src"
    _copy_database(test_db, source)  # migrated, empty
    try:
        with django_database(pgtools.params_from_url(url_of(source))):
            call_command("seed_demo", subjects=6, stdout=open(os.devnull, "w"))  # noqa: SIM115
            from core.models import Subject

            subject = Subject.objects.filter(site__code="001").order_by("number").first()
            number = subject.number
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE core_subject")  # as autovacuum keeps a production database analyzed
            backup_set = services.backup_scheduled(slot="daily:2026-11-30")
            assert backup_set.state == BackupState.SUCCEEDED and backup_set.verified_at is not None
            set_id = backup_set.set_id
            manifest = Manifest.from_bytes((backup_folders / "backups" / set_id / MANIFEST).read_bytes())
            original = fingerprints(source)
            if chain.available():
                assert manifest.audit_chain_head == chain.chain_head()
        assert manifest.row_counts["core_subject"] == 6
        assert manifest.row_counts["audit_auditevent"] > 0
        assert {f.path for f in manifest.files} == {DUMP, "files/exports/export-1.zip",
                                                     "files/media/imaging/ct-001-0001.dcm",
                                                     "files/material/001-0001/V5/interview.m4a"}
        assert ["backups", "0001_initial"] in manifest.migrations
    finally:
        drop_database(source)  # the disaster

    restored, url = scratch_database()
    files_out = backup_folders / "restored-files"
    call_command("backup_restore", "--set", set_id, "--into", url, "--files-into", str(files_out),
                 stdout=open(os.devnull, "w"))  # noqa: SIM115
    copy = fingerprints(restored)
    assert set(copy) == set(original)
    for table in original:
        if table in EXCLUDED_DATA:  # the history describes the set as "running": not in the dump
            assert copy[table][0] == 0, table
        else:
            assert copy[table] == original[table], f"{table}: original {original[table]}, restored {copy[table]}"
    assert (files_out / "exports" / "export-1.zip").read_bytes() == (backup_folders / "exports" / "export-1.zip").read_bytes()
    assert (files_out / "media" / "imaging" / "ct-001-0001.dcm").read_bytes() == \
        (backup_folders / "media" / "imaging" / "ct-001-0001.dcm").read_bytes()
    assert (files_out / "material" / "001-0001" / "V5" / "interview.m4a").read_bytes() == \
        (backup_folders / "material" / "001-0001" / "V5" / "interview.m4a").read_bytes()
    drill = RestoreDrill.objects.get()  # recorded in the application's database
    assert drill.ok and drill.set_id == set_id and drill.tables == len(manifest.row_counts)
    assert drill.rows == sum(manifest.row_counts.values())

    with django_database(pgtools.params_from_url(url)):
        # the planner has statistics at once: restored from the set (PostgreSQL 18 dumps them;
        # tables the source never analyzed are analyzed by the restore) or, from an older
        # server's set, made by the restore's ANALYZE of every table
        statistics = connection.pg_version >= 180000
        assert manifest.database["statistics"] == statistics
        with connection.cursor() as cursor:
            cursor.execute("SELECT c.reltuples, s.last_analyze IS NULL FROM pg_class c "
                           "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'core_subject'")
            assert cursor.fetchone() == (6, statistics)  # from the set: not analyzed again
            cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename IN ('core_subject', 'core_site') "
                           "GROUP BY tablename")
            assert len(cursor.fetchall()) == 2  # core_site: never analyzed at the source, analyzed here
        ok, broken = chain.verify_chain()
        if chain.available():
            assert ok is True, broken
            assert drill.chain_verified is True
        else:
            assert ok is None and drill.chain_verified is None
        from core.models import User

        client = Client()
        client.force_login(User.objects.get(username="coord001"))
        response = client.get(f"/subjects/{number}/")
        assert response.status_code == 200
        assert number in response.content.decode()
        client.logout()


@pytest.fixture
def taken(personas, backup_folders):
    """A set taken from the test database (personas only)."""
    return services.backup_scheduled(slot="daily:2026-12-01")


def restore(set_id, url, **kw):
    call_command("backup_restore", "--set", set_id, "--into", url, stdout=open(os.devnull, "w"), **kw)  # noqa: SIM115


@pytest.mark.parametrize("path", [DUMP, "files/exports/export-1.zip"])
def test_a_tampered_file_is_refused_before_anything_is_restored(taken, backup_folders, scratch_database, path):
    stored = backup_folders / "backups" / taken.set_id / path
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    name, url = scratch_database()
    with pytest.raises(CommandError, match=f"ChecksumMismatch: {taken.set_id}/{path}: expected"):
        restore(taken.set_id, url)
    assert is_empty(name)
    drill = RestoreDrill.objects.get()
    assert not drill.ok and "ChecksumMismatch" in drill.error


def test_the_untampered_set_restores_and_matches_the_manifest(taken, scratch_database):
    name, url = scratch_database()
    restore(taken.set_id, url)
    copy = fingerprints(name)
    assert {t: v[0] for t, v in copy.items() if t not in EXCLUDED_DATA} == taken.manifest["row_counts"]
    assert copy["core_user"][0] == 9


def test_a_set_of_another_migration_state_is_refused(personas, backup_folders, scratch_database):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('core', '9999_from_the_future', now())")
    try:
        backup_set = services.backup_scheduled(slot="daily:2026-12-02")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE name = '9999_from_the_future'")
    name, url = scratch_database()
    with pytest.raises(CommandError, match="MigrationStateMismatch: .*applied in the set but not in this code: "
                                           "core.9999_from_the_future"):
        restore(backup_set.set_id, url)
    assert is_empty(name)


def test_restore_refuses_a_database_that_is_not_empty(taken):
    with pytest.raises(CommandError, match="DatabaseNotEmpty: .* is not empty"):
        restore(taken.set_id, current_database_url())


def test_encrypted_set_restores_only_with_its_key_and_a_forged_manifest_is_refused(
        personas, backup_folders, scratch_database, settings, tmp_path):
    key = os.urandom(32)
    key_file = tmp_path / "backup.key"
    key_file.write_text(base64.b64encode(key).decode())
    settings.EDC_BACKUP_ENCRYPTION_KEY_FILE = str(key_file)
    backup_set = services.backup_scheduled(slot="daily:2026-12-03")
    assert backup_set.encrypted
    folder = backup_folders / "backups" / backup_set.set_id
    dump = (folder / DUMP).read_bytes()
    assert dump.startswith(b"EDCBAK1\n") and b"PGDMP" not in dump[:64]  # pg_dump's own header is hidden
    assert b"coord001" not in dump
    name, url = scratch_database()
    settings.EDC_BACKUP_ENCRYPTION_KEY_FILE = ""
    with pytest.raises(CommandError, match="EncryptionKeyMissing: set .* is encrypted"):
        restore(backup_set.set_id, url)
    settings.EDC_BACKUP_ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(CommandError, match="EncryptionKeyMissing: .*encrypted with key id"):
        restore(backup_set.set_id, url)
    settings.EDC_BACKUP_ENCRYPTION_KEY = ""
    settings.EDC_BACKUP_ENCRYPTION_KEY_FILE = str(key_file)
    # A forged manifest (row counts edited) no longer matches its signature.
    original = (folder / MANIFEST).read_bytes()
    (folder / MANIFEST).write_bytes(original.replace(b'"core_user":9', b'"core_user":10'))
    with pytest.raises(CommandError, match="ManifestInvalid: .*signature does not verify"):
        restore(backup_set.set_id, url)
    (folder / MANIFEST).write_bytes(original)
    assert (folder / SIGNATURE).is_file()
    restore(backup_set.set_id, url)
    assert fingerprints(name)["core_user"][0] == 9


def failing_pg_dump(folder: Path) -> Path:
    """A pg_dump that answers --version like the real one, then fails like a full disk."""
    real = pgtools.find_tool("pg_dump", connection.pg_version // 10000)
    folder.mkdir()
    script = folder / "pg_dump"
    script.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then exec "{real}" --version; fi\n'
                      'echo "pg_dump: error: could not write to output file: No space left on device" >&2\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_a_failed_backup_alerts_the_administrators_in_app_and_by_email(personas, backup_folders, settings, tmp_path):
    settings.EDC_PG_BIN_DIR = str(failing_pg_dump(tmp_path / "bin"))
    mail.outbox.clear()
    with pytest.raises(services.BackupFailed, match="No space left on device"):
        services.backup_scheduled(slot="daily:2026-12-04")
    backup_set = BackupSet.objects.get(slot="daily:2026-12-04")
    assert backup_set.state == BackupState.FAILED and "No space left" in backup_set.error
    assert not (backup_folders / "backups" / "daily-2026-12-04.partial").exists()
    notices = Notification.objects.filter(key__startswith="backup-failed:")
    assert [n.user.username for n in notices] == ["admin"]
    assert "daily-2026-12-04" in notices[0].title
    assert [m.to for m in mail.outbox] == [["admin@example.org"]]
    assert "Backup failed" in mail.outbox[0].subject
    # A second beat of the failed slot neither dumps again nor alerts twice.
    assert services.backup_scheduled(slot="daily:2026-12-04") is None
    assert Notification.objects.filter(key__startswith="backup-failed:").count() == 1


def test_a_missing_backup_alerts_once_a_day_and_a_recent_one_does_not(personas, backup_folders):
    from datetime import timedelta

    from django.utils import timezone

    mail.outbox.clear()
    assert services.backups_check()["missing"] is True
    assert services.backups_check()["missing"] is True  # the hourly check again: same notice
    notices = Notification.objects.filter(key__startswith="backup-missing:")
    assert [n.user.username for n in notices] == ["admin"]
    assert len(mail.outbox) == 1
    services.backup_scheduled(slot="daily:2026-12-05")
    assert services.backups_check()["missing"] is False
    later = timezone.now() + timedelta(hours=27)
    assert services.backups_check(now=later)["missing"] is True
    assert Notification.objects.filter(key__startswith="backup-missing:").count() == 2


def test_double_beat_in_one_process_makes_one_set(personas, backup_folders):
    first = services.backup_scheduled(slot="daily:2026-12-06")
    assert services.backup_scheduled(slot="daily:2026-12-06") is None
    assert BackupSet.objects.filter(slot="daily:2026-12-06").count() == 1
    assert sorted(p.name for p in (backup_folders / "backups").iterdir()) == [first.set_id]


def test_a_running_set_held_by_a_live_session_is_skipped_and_taken_over_once_that_session_dies(
        personas, backup_folders):
    """The advisory lock tells a live worker from a dead one."""
    other = pgtools.connect(pgtools.owner_params(), autocommit=True)
    try:
        # Another "worker" claims the slot and is still alive.
        other.execute("INSERT INTO backups_backupset (slot, set_id, kind, state, attempt, task_id, started_at, "
                      "target, manifest_sha256, manifest, encrypted, error) VALUES ('daily:2026-12-07', "
                      "'daily-2026-12-07', 'scheduled', 'running', 1, 'w1', now(), '', '', '{}', false, '') ")
        pk = other.execute("SELECT id FROM backups_backupset WHERE slot = 'daily:2026-12-07'").fetchone()[0]
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)", [services.LOCK_CLASS, pk]).fetchone()[0]
        assert services.backup_scheduled(slot="daily:2026-12-07") is None
    finally:
        other.close()  # the worker dies: PostgreSQL releases its session lock
    time.sleep(0.2)
    taken = services.backup_scheduled(slot="daily:2026-12-07")
    assert taken.state == BackupState.SUCCEEDED and taken.attempt == 2
    assert BackupSet.objects.filter(slot="daily:2026-12-07").count() == 1


def test_retention_prunes_old_sets_from_the_target_and_keeps_their_history(personas, backup_folders, settings):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    root = backup_folders / "backups"
    target = f"local:{root}"
    ages = {"keep-daily": 3, "keep-monthly": 100, "prune-same-month": 100, "prune-too-old": 4000}
    for name, days in ages.items():
        (root / name).mkdir(parents=True)
        (root / name / MANIFEST).write_text("{}")
        at = now - timedelta(days=days)
        BackupSet.objects.create(slot=name, set_id=name, kind="scheduled", state=BackupState.SUCCEEDED,
                                 started_at=at, finished_at=at, target=target)
    # "prune-same-month" is in the same calendar month as "keep-monthly", one hour after it.
    month_start = (now - timedelta(days=100)).replace(day=2, hour=0, minute=0)
    BackupSet.objects.filter(set_id="keep-monthly").update(finished_at=month_start)
    BackupSet.objects.filter(set_id="prune-same-month").update(finished_at=month_start + timedelta(hours=1))
    settings.EDC_BACKUP_RETENTION_DAILY_DAYS = 30
    settings.EDC_BACKUP_RETENTION_MONTHLY_DAYS = 3650
    pruned = services.backups_prune(now=now)
    assert pruned == ["prune-same-month", "prune-too-old"]
    assert sorted(p.name for p in root.iterdir()) == ["keep-daily", "keep-monthly"]
    assert BackupSet.objects.filter(pruned_at__isnull=False).count() == 2
    assert BackupSet.objects.count() == 4  # nothing is deleted from the history


@pytest.mark.parametrize("args, message", [
    (["--set", "../etc", "--into", "postgres://x@/y"], "--set: '../etc' is not a set ID"),
    (["--set", "daily-2026-12-01", "--into", "mysql://x@/y"], "--into: must be a postgres:// URL"),
    (["--into", "postgres://x@/y"], "--set: the ID of the set to restore is required"),
    (["--set", "daily-2026-12-01"], "--into: the URL of an empty database is required"),
])
def test_bad_restore_arguments_name_the_option(backup_folders, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("backup_restore", *args)


def test_a_set_that_is_not_on_the_target_is_named(backup_folders, scratch_database):
    name, url = scratch_database()
    with pytest.raises(CommandError, match="BackupSetNotFound: local:.* set daily-1999-01-01 has no manifest.json"):
        restore("daily-1999-01-01", url)


def test_an_unreachable_into_database_is_named(taken):
    with pytest.raises(CommandError, match="--into: cannot connect to edc@127.0.0.1:1/nowhere"):
        restore(taken.set_id, "postgres://edc:pw@127.0.0.1:1/nowhere")


def test_a_set_whose_audit_chain_does_not_verify_fails_the_restore_check(personas, backup_folders, scratch_database):
    """History rewritten before the backup (a record edited with the triggers off): the
    restored copy is checked with the project's own chain verification and the drill fails."""
    assert chain.available()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET summary = summary || ' (rewritten)' "
                       "WHERE id = (SELECT min(id) FROM audit_auditevent)")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    backup_set = services.backup_scheduled(slot="daily:2026-12-08")
    name, url = scratch_database()
    with pytest.raises(CommandError, match="RestoreVerificationFailed: the audit chain of the restored database "
                                           "does not verify: link .*audit_auditevent.*record changed"):
        restore(backup_set.set_id, url)
    drill = RestoreDrill.objects.get()
    assert not drill.ok and "audit chain" in drill.error
