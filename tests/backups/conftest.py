"""Backup test helpers: folders for the target, exports and uploads; scratch databases on the
same PostgreSQL server as the test database."""

import urllib.parse
import uuid

import pytest
from django.conf import settings
from django.db import connection


def owner_url() -> str:
    """The owner role's URL: it may create databases (and the tests connect as it)."""
    from backups import pgtools

    return pgtools.owner_url()


def url_of(dbname: str, *, role_url: str | None = None) -> str:
    """`dbname` as the owner role, or as the role of `role_url`."""
    parts = urllib.parse.urlsplit(role_url or owner_url())
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


def current_database_url() -> str:
    return url_of(connection.settings_dict["NAME"])


def current_database_runtime_url() -> str:
    """The test database as the least-privilege runtime role (what a worker connects as)."""
    return url_of(connection.settings_dict["NAME"], role_url=settings.DATABASE_URL)


def admin_execute(sql: str) -> None:
    """CREATE / DROP DATABASE, run on the server's maintenance database (autocommit)."""
    from backups import pgtools

    params = pgtools.params_from_url(owner_url())
    params["dbname"] = "postgres"
    with pgtools.connect(params, autocommit=True) as conn:
        conn.execute(sql)


def drop_database(name: str, attempts: int = 10) -> None:
    """DROP DATABASE … WITH (FORCE) as the owner. An autovacuum worker may just have begun on
    the database (a restored one has tables to analyse): FORCE may not terminate it (that
    takes pg_signal_autovacuum_worker), but a plain DROP DATABASE asks autovacuum workers to
    leave and waits for them; tried again until it succeeds."""
    import time

    import psycopg

    try:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    except psycopg.errors.InsufficientPrivilege:
        pass
    for attempt in range(attempts):
        try:
            admin_execute(f'DROP DATABASE IF EXISTS "{name}"')
            return
        except (psycopg.errors.ObjectInUse, psycopg.errors.InsufficientPrivilege):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


@pytest.fixture
def backup_folders(tmp_path, settings):
    """A local target; export, upload and adjudication-material folders with one file each."""
    settings.EDC_BACKUP_TARGET = "local"
    settings.EDC_BACKUP_DIR = tmp_path / "backups"
    settings.EDC_EXPORT_DIR = tmp_path / "exports"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EDC_BACKUP_ENCRYPTION_KEY = ""
    settings.EDC_BACKUP_ENCRYPTION_KEY_FILE = ""
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "export-1.zip").write_bytes(b"PK\x03\x04 an export file " * 100)
    (tmp_path / "media" / "imaging").mkdir(parents=True)
    (tmp_path / "media" / "imaging" / "ct-001-0001.dcm").write_bytes(bytes(range(256)) * 40)
    settings.STORAGES = {**settings.STORAGES, "material": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "material")}}}
    (tmp_path / "material" / "001-0001" / "V5").mkdir(parents=True)
    (tmp_path / "material" / "001-0001" / "V5" / "interview.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " * 64)
    return tmp_path


@pytest.fixture
def scratch_database():
    """scratch_database() -> (name, url) of a new, empty database; dropped after the test."""
    created = []

    def _make():
        name = f"edc_restore_{uuid.uuid4().hex[:10]}"
        admin_execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return name, url_of(name)

    yield _make
    for name in created:
        drop_database(name)
