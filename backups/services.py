"""Backups: take a set exactly once per schedule slot, verify it, prune by retention, alert the
administrators when a backup fails or is missing.

`backup_scheduled()` (beat, daily) / `backup_manual()` (the page) steps:
1. Claim: INSERT … ON CONFLICT (slot) DO NOTHING a BackupSet row and, in the same transaction,
   take a session advisory lock on it. A second beat of the slot finds the row: it stops if the
   set succeeded or failed, or if the lock is held (a live worker is on it). A free lock on a
   "running" row means its worker died (PostgreSQL releases a session's locks when the session
   ends): this run takes the set over (attempt + 1). So double beats and killed workers make
   one set per slot.
2. Snapshot: a REPEATABLE READ transaction exports its snapshot; pg_dump --snapshot dumps
   exactly that state, and the row counts, the migration state and the audit chain head are
   read in it too — the manifest describes the dump, whatever was written meanwhile.
3. Store: pg_dump's output is streamed (SHA-256 of plaintext and of stored bytes, optional
   AES-GCM encryption) to the target, then every export file and uploaded file; the manifest
   is written last (a set without manifest is incomplete).
4. Verify: every stored file is read back from the target and its checksum compared.
5. Prune: sets outside the retention policy are deleted from the target (their rows stay).
A failure at any step marks the set failed and alerts the administrators (in-app + e-mail).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_event_record
from backups import chain, crypto, pgtools, retention
from backups.exceptions import BackupError, BackupFailed, ChecksumMismatch
from backups.manifest import DUMP, EXCLUDED_DATA, SIGNATURE, FileEntry, Manifest
from backups.models import BackupKind, BackupSet, BackupState
from backups.targets import READ_BLOCK, configured_target
from core.access import require
from core.models import User
from core.roles import Action, Role
from core.services import notification_create

log = logging.getLogger(__name__)
LOCK_CLASS = 0x4243  # advisory lock namespace of backup sets ("BC")
SNAPSHOT_RE = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$")


def encryption_key() -> bytes | None:
    return crypto.load_key(settings.EDC_BACKUP_ENCRYPTION_KEY, settings.EDC_BACKUP_ENCRYPTION_KEY_FILE)


def daily_slot(now: datetime) -> str:
    """The scheduled slot a moment belongs to: the UTC day, starting at EDC_BACKUP_HOUR_UTC."""
    day = (now.astimezone(UTC) - timedelta(hours=settings.EDC_BACKUP_HOUR_UTC)).date()
    return f"daily:{day.isoformat()}"


# --- 1. Claim -----------------------------------------------------------------------------------


def _try_lock(set_pk: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, set_pk])
        return cursor.fetchone()[0]


def _unlock(set_pk: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, set_pk])


@transaction.atomic(durable=True)
def backup_claim(*, slot: str, kind: str, task_id: str = "", by: User | None = None,
                 target: str = "") -> BackupSet | None:
    """Claim the slot's set for this session, or None when another run has it or had it.

    Race prevented: two beats (or a redelivered message) of one slot both dumping. The UNIQUE
    slot admits one INSERT; the session advisory lock, taken before the row is visible to
    anyone, tells a live owner from a dead one.
    """
    set_id = slot.replace(":", "-")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BackupSet._meta.db_table} (slot, set_id, kind, state, attempt, task_id, "
            "requested_by_id, started_at, target, manifest_sha256, manifest, encrypted, error) "
            "VALUES (%s, %s, %s, %s, 1, %s, %s, now(), %s, '', '{}', false, '') "
            "ON CONFLICT (slot) DO NOTHING RETURNING id",
            [slot, set_id, kind, BackupState.RUNNING, task_id, getattr(by, "pk", None), target])
        row = cursor.fetchone()
    if row is not None:
        if not _try_lock(row[0]):  # impossible: nobody else can see the row yet
            raise RuntimeError(f"backup set {set_id}: advisory lock taken before the claim committed")
        return BackupSet.objects.get(pk=row[0])
    # Row locked FOR UPDATE: two runs deciding to take over one dead set at once serialise here.
    existing = BackupSet.objects.select_for_update(no_key=True).get(slot=slot)
    if existing.state != BackupState.RUNNING or not _try_lock(existing.pk):
        return None
    existing.attempt += 1
    existing.task_id = task_id
    existing.save(update_fields=["attempt", "task_id"])
    log.warning("backup %s: the worker of attempt %s died; attempt %s takes over",
                existing.set_id, existing.attempt - 1, existing.attempt)
    return existing


# --- 2–4. Snapshot, store, verify ------------------------------------------------------------------


def _store(target, set_id: str, path: str, read, key: bytes | None) -> FileEntry:
    plain, stored = hashlib.sha256(), hashlib.sha256()
    plain_size = stored_size = 0
    enc = crypto.Encryptor(key) if key else None
    with target.writer(set_id, path) as out:
        while block := read(READ_BLOCK):
            plain.update(block)
            plain_size += len(block)
            data = enc.update(block) if enc else block
            if data:
                stored.update(data)
                stored_size += len(data)
                out.write(data)
        if enc:
            data = enc.finish()
            stored.update(data)
            stored_size += len(data)
            out.write(data)
    return FileEntry(path=path, size=stored_size, sha256=stored.hexdigest(), plain_size=plain_size,
                     plain_sha256=plain.hexdigest())


def _tables(snap) -> list[tuple[str, str]]:
    return snap.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%' "
        "ORDER BY 1, 2").fetchall()


def table_label(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def row_counts(conn) -> dict[str, int]:
    """Exact row count of every table (psycopg connection, in its current transaction)."""
    from psycopg import sql

    counts = {}
    for schema, name in _tables(conn):
        if name in EXCLUDED_DATA and schema == "public":
            continue
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        counts[table_label(schema, name)] = conn.execute(query).fetchone()[0]
    return counts


def _chain_head_in(snapshot: str) -> dict | None:
    """Issue 12's chain head, read by Django's connection inside the dump's snapshot."""
    if not chain.available():
        return None
    if not SNAPSHOT_RE.match(snapshot):
        raise BackupFailed(f"unexpected snapshot id {snapshot!r}")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        head = chain.chain_head()
    return json.loads(json.dumps(head, default=str)) if head is not None else None


def _files_to_back_up() -> list[tuple[str, str, object]]:
    """(stored path, label, opener) of every export file, uploaded file (MEDIA_ROOT) and
    adjudication material (the "material" storage: local folder or S3 alike)."""
    out = []
    for root, prefix in ((Path(settings.EDC_EXPORT_DIR), "files/exports"), (Path(settings.MEDIA_ROOT), "files/media")):
        if not root.is_dir():
            continue
        for file in sorted(root.rglob("*")):
            if file.is_file() and not file.is_symlink():
                out.append((f"{prefix}/{file.relative_to(root).as_posix()}", str(file),
                            lambda file=file: open(file, "rb")))  # noqa: SIM115
    if "material" in settings.STORAGES:
        from django.core.files.storage import storages

        storage = storages["material"]

        def walk(path: str):
            try:
                dirs, files = storage.listdir(path)
            except FileNotFoundError:  # nothing uploaded yet
                return
            for name in sorted(files):
                yield f"{path}/{name}" if path else name
            for name in sorted(dirs):
                yield from walk(f"{path}/{name}" if path else name)

        for name in walk(""):
            out.append((f"files/material/{name}", name, lambda name=name: storage.open(name, "rb")))
    return out


def backup_write(*, backup_set: BackupSet, target, key: bytes | None) -> Manifest:
    """Steps 2–3: write the set to the target and return its manifest."""
    params = pgtools.owner_params()
    set_id = backup_set.set_id
    target.begin(set_id)
    with pgtools.connect(params, autocommit=True) as snap, tempfile.TemporaryFile() as stderr:
        major = pgtools.server_major(snap)
        pg_dump = pgtools.find_tool("pg_dump", major)
        snap.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = snap.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = row_counts(snap)
        migrations = [list(r) for r in snap.execute("SELECT app, name FROM django_migrations ORDER BY app, name")]
        head = _chain_head_in(snapshot)
        # PostgreSQL 18 dumps the planner statistics too (pg_restore restores them with the
        # data): a restored database plans well at once, without an ANALYZE of every table.
        statistics = major >= 18
        command = [str(pg_dump), "--format=custom", f"--snapshot={snapshot}", "--no-password",
                   *(["--statistics"] if statistics else []),
                   *(f"--exclude-table-data={t}" for t in EXCLUDED_DATA)]
        proc = subprocess.Popen(command, env=pgtools.libpq_env(params), stdout=subprocess.PIPE, stderr=stderr)
        try:
            dump = _store(target, set_id, DUMP, proc.stdout.read, key)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip()[-2000:]
            raise BackupFailed(f"pg_dump exited with status {code}: {message or 'no message'}")
        snap.execute("COMMIT")
        server_version = snap.info.server_version
    files = [dump]
    for path, _label, opener in _files_to_back_up():
        with opener() as f:
            files.append(_store(target, set_id, path, f.read, key))
    manifest = Manifest(
        set_id=set_id, created_at=timezone.now().isoformat(), slot=backup_set.slot,
        database={"server_version_num": server_version, "pg_dump": str(pg_dump.name) + f" {major}",
                  "name": params["dbname"], "statistics": statistics},
        migrations=migrations, row_counts=counts, audit_chain_head=head, files=files,
        encryption={"scheme": crypto.SCHEME, "chunk": crypto.CHUNK, "key_id": crypto.key_id(key)} if key else None,
    )
    raw = manifest.to_bytes()
    target.commit(set_id, raw, {SIGNATURE: crypto.sign(key, raw).encode()} if key else {})
    return manifest


def set_verify(*, target, set_id: str, manifest: Manifest) -> None:
    """Read every stored file back from the target and compare size and SHA-256 with the
    manifest; ChecksumMismatch names the first file that differs."""
    for entry in manifest.files:
        digest, size = hashlib.sha256(), 0
        with target.reader(set_id, entry.path) as f:
            while block := f.read(READ_BLOCK):
                digest.update(block)
                size += len(block)
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise ChecksumMismatch(
                f"{set_id}/{entry.path}: expected {entry.size} bytes with SHA-256 {entry.sha256}, "
                f"found {size} bytes with SHA-256 {digest.hexdigest()}")


def backup_take(*, backup_set: BackupSet, target=None) -> BackupSet:
    """Steps 2–5 for a claimed set (this session holds its lock). Raises BackupError after
    marking the set failed and alerting the administrators."""
    target = target or configured_target()
    try:
        key = encryption_key()
        manifest = backup_write(backup_set=backup_set, target=target, key=key)
        set_verify(target=target, set_id=backup_set.set_id, manifest=manifest)
    except Exception as exc:
        target.abort(backup_set.set_id)
        _mark_failed(backup_set, exc)
        _unlock(backup_set.pk)
        if isinstance(exc, BackupError):
            raise
        raise BackupFailed(f"{type(exc).__name__}: {exc}") from exc
    now = timezone.now()
    done = BackupSet.objects.filter(pk=backup_set.pk, state=BackupState.RUNNING, attempt=backup_set.attempt).update(
        state=BackupState.SUCCEEDED, finished_at=now, verified_at=now, target=target.describe(),
        size_bytes=manifest.size_bytes + len(manifest.to_bytes()), manifest_sha256=manifest.sha256(),
        manifest=json.loads(manifest.to_bytes()), encrypted=manifest.encryption is not None, error="")
    _unlock(backup_set.pk)
    if done != 1:  # impossible while we held the lock
        raise RuntimeError(f"backup set {backup_set.set_id}: lost its claim")
    backup_set.refresh_from_db()
    try:
        backups_prune(target=target, now=now)
    except Exception:  # the new set is safe; retention is retried after the next backup
        log.exception("backup %s: pruning old sets failed", backup_set.set_id)
    return backup_set


def _mark_failed(backup_set: BackupSet, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"[:4000]
    log.error("backup %s failed: %s", backup_set.set_id, message)
    with transaction.atomic():
        BackupSet.objects.filter(pk=backup_set.pk, state=BackupState.RUNNING).update(
            state=BackupState.FAILED, finished_at=timezone.now(), error=message)
        alert_admins(key=f"backup-failed:{backup_set.set_id}:{backup_set.attempt}",
                     title=f"Backup failed: {backup_set.set_id}",
                     body=f"The backup {backup_set.set_id} did not complete.\n{message}")


def backup_scheduled(*, now: datetime | None = None, slot: str | None = None, task_id: str = "") -> BackupSet | None:
    """The daily backup (beat). None when this slot's backup is done or in progress elsewhere."""
    slot = slot or daily_slot(now or timezone.now())
    target = configured_target()
    backup_set = backup_claim(slot=slot, kind=BackupKind.SCHEDULED, task_id=task_id, target=target.describe())
    if backup_set is None:
        return None
    return backup_take(backup_set=backup_set, target=target)


@transaction.atomic(durable=True)
def backup_request(*, by: User) -> str:
    """An administrator asks for a backup now: audited here, taken by the worker (which
    claims the new slot itself, so the lock belongs to the session doing the work)."""
    require(by, Action.ADMINISTER)
    slot = f"manual:{timezone.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    audit_event_record(action=AuditAction.OTHER, actor=by, summary=f"Backup requested ({slot})")

    def _enqueue():
        from backups.tasks import backup_manual

        backup_manual.delay(slot, by.pk)

    transaction.on_commit(_enqueue, robust=True)
    return slot


def backup_manual(*, slot: str, by: User | None, task_id: str = "") -> BackupSet | None:
    target = configured_target()
    backup_set = backup_claim(slot=slot, kind=BackupKind.MANUAL, by=by, task_id=task_id, target=target.describe())
    if backup_set is None:
        return None
    return backup_take(backup_set=backup_set, target=target)


# --- 5. Retention ---------------------------------------------------------------------------------


def backups_prune(*, target=None, now: datetime | None = None) -> list[str]:
    """Delete from the target the sets the retention policy no longer keeps; returns their IDs.
    The history rows stay (pruned_at), so the page still shows every backup ever taken."""
    target = target or configured_target()
    now = now or timezone.now()
    rows = list(BackupSet.objects.filter(state=BackupState.SUCCEEDED, pruned_at__isnull=True,
                                         target=target.describe()).values_list("set_id", "finished_at"))
    prune = retention.sets_to_prune(
        [retention.SetAge(name, at) for name, at in rows], now=now,
        daily_days=settings.EDC_BACKUP_RETENTION_DAILY_DAYS, monthly_days=settings.EDC_BACKUP_RETENTION_MONTHLY_DAYS)
    for set_id in sorted(prune):
        target.delete_set(set_id)
        BackupSet.objects.filter(set_id=set_id).update(pruned_at=now)
    return sorted(prune)


# --- Alerts -----------------------------------------------------------------------------------------


def alert_admins(*, key: str, title: str, body: str) -> list:
    """One in-app notice and one e-mail per active administrator, once per key."""
    admins = User.objects.filter(is_active=True, memberships__role=Role.ADMIN, memberships__active=True).distinct()
    return notification_create(users=admins, key=key, title=title, body=body, url=reverse("backups:history"))


def backups_check(*, now: datetime | None = None) -> dict:
    """Hourly (beat): alert when the newest successful backup is older than
    EDC_BACKUP_MAX_AGE_HOURS (beat or worker down, every run failing), and mark failed the
    "running" sets whose worker is gone for longer than EDC_BACKUP_STALE_HOURS."""
    now = now or timezone.now()
    stale = []
    for backup_set in BackupSet.objects.filter(state=BackupState.RUNNING,
                                               started_at__lt=now - timedelta(hours=settings.EDC_BACKUP_STALE_HOURS)):
        if _try_lock(backup_set.pk):  # nobody holds it: its worker died and no retry came
            _mark_failed(backup_set, BackupFailed("the worker stopped before the backup finished"))
            _unlock(backup_set.pk)
            stale.append(backup_set.set_id)
    last = BackupSet.objects.filter(state=BackupState.SUCCEEDED).order_by("-finished_at").first()
    missing = last is None or last.finished_at < now - timedelta(hours=settings.EDC_BACKUP_MAX_AGE_HOURS)
    if missing:
        since = f"since {last.finished_at:%Y-%m-%d %H:%M} UTC" if last else "ever"
        with transaction.atomic():
            alert_admins(key=f"backup-missing:{now:%Y-%m-%d}", title="No successful backup " + since,
                         body=f"No backup has succeeded in the last {settings.EDC_BACKUP_MAX_AGE_HOURS} hours "
                              f"({since}). Check the Celery worker and beat, and the backup history.")
    return {"missing": missing, "stale": stale}
