"""Restore a backup set into an empty database and prove it (`manage.py backup_restore`).

Steps, each refusing with its own exception before anything is written:
1. Read the manifest; check its signature (HMAC with the encryption key) when the set is signed,
   and that the configured key is the one the set was encrypted with.
2. Verify every stored file's size and SHA-256 against the manifest (ChecksumMismatch).
3. Compare the set's migration state with this code's migrations (MigrationStateMismatch): a
   set from another schema version needs the code of that version.
4. Check the target database is empty (DatabaseNotEmpty).
5. pg_restore (the target server's version) in one transaction, --exit-on-error; an encrypted or
   remote dump is decrypted and streamed into it.
6. Compare the restored row counts per table and migration state with the manifest, and verify
   the audit chain in the restored database (RestoreVerificationFailed).
7. Optionally write the export and uploaded files into a folder, checking each plaintext SHA-256.
The drill (success or failure) is recorded in the application's database when it is reachable.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.db import DatabaseError, connections

from backups import chain, crypto, pgtools
from backups.exceptions import (
    BackupError,
    ChecksumMismatch,
    DatabaseNotEmpty,
    EncryptionKeyMissing,
    ManifestInvalid,
    MigrationStateMismatch,
    RestoreVerificationFailed,
)
from backups.manifest import DUMP, MANIFEST, SIGNATURE, Manifest, migration_difference
from backups.services import _tables, row_counts, set_verify
from backups.targets import READ_BLOCK

log = logging.getLogger(__name__)


@dataclass
class RestoreResult:
    set_id: str
    into: str
    tables: int = 0
    rows: int = 0
    chain_verified: bool | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    files_written: list[str] = field(default_factory=list)


def read_manifest(*, target, set_id: str, key: bytes | None) -> Manifest:
    with target.reader(set_id, MANIFEST) as f:
        raw = f.read()
    manifest = Manifest.from_bytes(raw)
    if manifest.set_id != set_id:
        raise ManifestInvalid(f"manifest.json of {set_id} names another set ({manifest.set_id})")
    signed = target.exists(set_id, SIGNATURE)
    if (signed or manifest.encryption) and key is None:
        raise EncryptionKeyMissing(
            f"set {set_id} is {'encrypted' if manifest.encryption else 'signed'}: set EDC_BACKUP_ENCRYPTION_KEY "
            f"(or _FILE) to the key with id {manifest.encryption['key_id'] if manifest.encryption else '(see manifest.sig)'}")
    if manifest.encryption and manifest.encryption.get("key_id") != crypto.key_id(key):
        raise EncryptionKeyMissing(f"set {set_id} was encrypted with key id {manifest.encryption.get('key_id')}, "
                                   f"the configured key has id {crypto.key_id(key)}")
    if signed:
        with target.reader(set_id, SIGNATURE) as f:
            signature = f.read().decode(errors="replace")
        if not crypto.signature_ok(key, raw, signature):
            raise ManifestInvalid(f"{set_id}/manifest.json: its signature does not verify (altered manifest)")
    elif manifest.encryption:
        raise ManifestInvalid(f"{set_id}: encrypted set without manifest.sig (removed signature)")
    return manifest


def code_migrations() -> list[tuple[str, str]]:
    from django.db.migrations.loader import MigrationLoader

    return sorted(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def check_migrations(manifest: Manifest, code=None) -> None:
    unknown, missing = migration_difference(manifest.migrations, code if code is not None else code_migrations())
    if unknown or missing:
        parts = []
        if unknown:
            parts.append("applied in the set but not in this code: " + ", ".join(".".join(m) for m in unknown[:10]))
        if missing:
            parts.append("in this code but not applied in the set: " + ", ".join(".".join(m) for m in missing[:10]))
        raise MigrationStateMismatch(f"set {manifest.set_id} has another migration state; " + "; ".join(parts)
                                     + ". Restore it with the code version that took it.")


def _plain_stream(target, set_id: str, entry, key: bytes | None):
    """Yield the plaintext blocks of a stored file, checking its plaintext SHA-256 at the end."""
    digest = hashlib.sha256()
    with target.reader(set_id, entry.path) as f:
        blocks = crypto.decrypt_stream(key, f.read, entry.path) if key and _is_encrypted(entry) else iter(
            lambda: f.read(READ_BLOCK), b"")
        for block in blocks:
            digest.update(block)
            yield block
    if digest.hexdigest() != entry.plain_sha256:
        raise ChecksumMismatch(f"{set_id}/{entry.path}: plaintext SHA-256 {digest.hexdigest()} differs from "
                               f"the manifest's {entry.plain_sha256}")


def _is_encrypted(entry) -> bool:
    return entry.size != entry.plain_size or entry.sha256 != entry.plain_sha256


def _pg_restore(*, target, set_id: str, manifest: Manifest, key, params: dict, major: int, no_owner: bool) -> None:
    tool = pgtools.find_tool("pg_restore", major)
    entry = manifest.file(DUMP)
    command = [str(tool), "--exit-on-error", "--single-transaction", "--no-password", "-d", params["dbname"]]
    if manifest.database.get("statistics"):
        command.append("--statistics")  # the planner statistics dumped with the set
    if no_owner:
        command += ["--no-owner", "--no-privileges"]
    local = target.local_path(set_id, DUMP)
    direct = manifest.encryption is None and local is not None and local.is_file()
    with tempfile.TemporaryFile() as stderr:
        if direct:  # checked in step 2; pg_restore reads the file itself
            proc = subprocess.Popen([*command, str(local)], env=pgtools.libpq_env(params), stderr=stderr)
        else:
            proc = subprocess.Popen(command, env=pgtools.libpq_env(params), stdin=subprocess.PIPE, stderr=stderr)
            try:
                for block in _plain_stream(target, set_id, entry, key if manifest.encryption else None):
                    proc.stdin.write(block)
            except BrokenPipeError:
                pass  # pg_restore stopped; its status and message say why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        code = proc.wait()
        if code != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip()[-2000:]
            raise RestoreVerificationFailed(f"pg_restore exited with status {code}: {message}")


def _analyze(params: dict, only_missing: bool = False) -> None:
    """ANALYZE the restored database; `only_missing`: only the tables that have rows but no
    statistics (the set carried the statistics of the others)."""
    with pgtools.connect(params, autocommit=True) as conn:
        if not only_missing:
            conn.execute("ANALYZE")
            return
        tables = conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.reltuples <> 0 "
            "AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname)").fetchall()
        if tables:
            conn.execute("ANALYZE " + ", ".join(t for (t,) in tables))


@contextlib.contextmanager
def django_database(params: dict, alias: str = "default"):
    """Point Django's connection at another database for the block (the audit chain check
    runs the project's own code against the restored copy)."""
    conn = connections[alias]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update(NAME=params["dbname"], USER=params["user"], PASSWORD=params["password"],
                              HOST=params["host"], PORT=params["port"])
    try:
        yield conn
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


def restore_set(*, set_id: str, into_url: str, target, key: bytes | None, files_into: Path | None = None,
                no_owner: bool = False) -> RestoreResult:
    started = time.monotonic()
    params = pgtools.params_from_url(into_url)
    result = RestoreResult(set_id=set_id, into=pgtools.describe(params))
    step = [time.monotonic()]

    def done(name: str) -> None:
        now = time.monotonic()
        result.timings[name] = now - step[0]
        step[0] = now

    manifest = read_manifest(target=target, set_id=set_id, key=key)          # 1
    set_verify(target=target, set_id=set_id, manifest=manifest)               # 2
    check_migrations(manifest)                                                # 3
    with pgtools.connect(params, autocommit=True) as conn:                    # 4
        present = _tables(conn)
        if present:
            raise DatabaseNotEmpty(f"{result.into} is not empty ({len(present)} tables, e.g. "
                                   f"{'.'.join(present[0])}); restore into a new, empty database")
        major = pgtools.server_major(conn)
    if major * 10000 < manifest.database["server_version_num"] // 10000 * 10000:
        raise RestoreVerificationFailed(f"{result.into} runs PostgreSQL {major}; the set was taken from "
                                        f"{manifest.database['server_version_num'] // 10000}: restore into that "
                                        "version or newer")
    done("checks")
    _pg_restore(target=target, set_id=set_id, manifest=manifest, key=key, params=params, major=major,   # 5
                no_owner=no_owner)
    done("pg_restore")
    with pgtools.connect(params, autocommit=True) as conn:                    # 6
        counts = row_counts(conn)
        migrations = [list(r) for r in conn.execute("SELECT app, name FROM django_migrations ORDER BY app, name")]
    if counts != manifest.row_counts:
        diffs = [f"{t}: manifest {manifest.row_counts.get(t)}, restored {counts.get(t)}"
                 for t in sorted(set(counts) | set(manifest.row_counts)) if counts.get(t) != manifest.row_counts.get(t)]
        raise RestoreVerificationFailed(f"row counts differ from the manifest in {len(diffs)} tables: "
                                        + "; ".join(diffs[:10]))
    if migrations != manifest.migrations:
        raise RestoreVerificationFailed("the restored migration state differs from the manifest")
    result.tables, result.rows = len(counts), sum(counts.values())
    done("counts")
    # The first users need planner statistics. A set from PostgreSQL 18 or later carries them
    # (pg_dump --statistics), restored with the data: only tables the source had never
    # analyzed are analyzed here. Otherwise the whole database is. ANALYZE runs on a
    # connection of its own while the audit chain is verified (the chain check's joins do not
    # depend on statistics), so the two share the machine's cores.
    with ThreadPoolExecutor(max_workers=1) as pool:
        analyzed = pool.submit(_analyze, params, only_missing=bool(manifest.database.get("statistics")))
        if chain.available():
            expected = (manifest.audit_chain_head or {}).get("hash") or None
            with django_database(params):
                ok, broken = chain.verify_chain(expected_head=expected)
                head = chain.chain_head()
            done("audit_chain")
        analyzed.result()
        done("analyze")
    if chain.available():
        if not ok:
            raise RestoreVerificationFailed(f"the audit chain of the restored database does not verify: {broken}")
        if manifest.audit_chain_head is not None and head != manifest.audit_chain_head:
            raise RestoreVerificationFailed(f"the restored audit chain ends at {head}, the manifest at "
                                            f"{manifest.audit_chain_head}")
        result.chain_verified = True
    if files_into is not None:                                                # 7
        for entry in manifest.files:
            if entry.path == DUMP:
                continue
            dest = Path(files_into) / entry.path.removeprefix("files/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as out:
                for block in _plain_stream(target, set_id, entry, key if manifest.encryption else None):
                    out.write(block)
            result.files_written.append(str(dest))
        done("files")
    result.seconds = time.monotonic() - started
    return result


def drill_record(*, set_id: str, into: str, result: RestoreResult | None, error: BackupError | None,
                 seconds: float) -> bool:
    """Record the drill in the application's database; False when it is unreachable (disaster)."""
    from audit.models import AuditAction
    from audit.services import audit_event_record
    from backups.models import BackupSet, RestoreDrill

    try:
        RestoreDrill.objects.create(
            set_id=set_id, backup_set=BackupSet.objects.filter(set_id=set_id).first(), into=into,
            ok=error is None, tables=result.tables if result else 0, rows=result.rows if result else 0,
            chain_verified=result.chain_verified if result else None, seconds=seconds,
            error=f"{type(error).__name__}: {error}"[:4000] if error else "")
        audit_event_record(action=AuditAction.OTHER, summary=(
            f"Backup set {set_id} restored into {into} and verified" if error is None
            else f"Restore of backup set {set_id} into {into} refused: {type(error).__name__}"))
    except DatabaseError as exc:
        log.warning("restore drill not recorded (application database unreachable): %s", exc)
        return False
    return True
