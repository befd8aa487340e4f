"""python manage.py backup_restore --set ID --into DATABASE_URL [--files-into DIR]

Verifies the set's checksums and migration state first, restores it into an EMPTY database,
then compares row counts with the manifest and verifies the audit chain. `--list` shows the
sets on the configured target."""

import re
import time

import psycopg
from django.core.management.base import BaseCommand, CommandError

from backups import restore, services
from backups.exceptions import BackupError
from backups.targets import LocalTarget, configured_target

SET_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")


class Command(BaseCommand):
    help = "Restore a backup set into an empty database and verify it against its manifest."

    def add_arguments(self, parser):
        parser.add_argument("--set", dest="set_id", help="the set ID (a folder / key prefix on the target)")
        parser.add_argument("--into", dest="into", help="postgres:// URL of an empty database")
        parser.add_argument("--files-into", dest="files_into", help="also write the export and uploaded files here")
        parser.add_argument("--from-dir", dest="from_dir", help="read the set from this local folder instead "
                                                                "of the configured target")
        parser.add_argument("--no-owner", action="store_true", help="do not restore ownership and privileges")
        parser.add_argument("--no-record", action="store_true", help="do not record the drill")
        parser.add_argument("--list", action="store_true", help="list the sets on the target")

    def handle(self, *args, **opts):
        target = LocalTarget(opts["from_dir"]) if opts["from_dir"] else configured_target()
        if opts["list"]:
            for name in target.list_sets():
                self.stdout.write(name)
            return
        if not opts["set_id"]:
            raise CommandError("--set: the ID of the set to restore is required (see --list)")
        if not opts["into"]:
            raise CommandError("--into: the URL of an empty database is required")
        if not SET_ID.match(opts["set_id"]):
            raise CommandError(f"--set: {opts['set_id']!r} is not a set ID (letters, digits, '.', '_', '-'; "
                               "see --list)")
        if not opts["into"].startswith(("postgres://", "postgresql://")):
            raise CommandError("--into: must be a postgres:// URL of an empty database, e.g. "
                               "postgres://edc:PASSWORD@host:5432/edc_restored")
        started = time.monotonic()
        into = restore.pgtools.describe(restore.pgtools.params_from_url(opts["into"]))
        try:
            result = restore.restore_set(set_id=opts["set_id"], into_url=opts["into"], target=target,
                                         key=services.encryption_key(), files_into=opts["files_into"],
                                         no_owner=opts["no_owner"])
        except BackupError as exc:
            if not opts["no_record"]:
                restore.drill_record(set_id=opts["set_id"], into=into, result=None, error=exc,
                                     seconds=time.monotonic() - started)
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise CommandError(f"--into: cannot connect to {into}: {str(exc).strip()}") from exc
        if not opts["no_record"]:
            restore.drill_record(set_id=opts["set_id"], into=into, result=result, error=None, seconds=result.seconds)
        chain_text = {True: "verified", None: "not checked (no audit chain in this version)"}[result.chain_verified]
        self.stdout.write(self.style.SUCCESS(
            f"Restored {result.set_id} into {result.into}: {result.tables} tables, {result.rows} rows equal to the "
            f"manifest; audit chain {chain_text}; {len(result.files_written)} files written; {result.seconds:.1f} s"))
