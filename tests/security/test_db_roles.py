"""Least-privilege database roles (audit/dbroles.py): the application's runtime role cannot
rewrite the audit trail — each forbidden statement fails as that role — and still does
everything the application does."""

from io import StringIO

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from audit.chain import audited_tables, verify_chain

RUNTIME = settings.EDC_DB_RUNTIME_ROLE


def _runtime_connection():
    """A new session of the runtime role (DATABASE_URL's user and password) on the test database."""
    import dj_database_url

    runtime_db = dj_database_url.parse(settings.DATABASE_URL)
    params = connection.get_connection_params()
    params = {"host": params.get("host"), "port": params.get("port"), "dbname": params["dbname"],
              "user": RUNTIME, "password": runtime_db["PASSWORD"]}
    return psycopg.connect(**{k: v for k, v in params.items() if v not in (None, "")}, autocommit=True)


@pytest.fixture
def runtime(db):
    assert RUNTIME, "the test stack must run with a separate runtime role (DATABASE_URL) and owner"
    with _runtime_connection() as conn:
        yield conn


def _refused(conn, sql):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql)


def test_runtime_role_is_not_superuser_and_owns_nothing(runtime):
    assert runtime.execute("SELECT current_user").fetchone()[0] == RUNTIME
    row = runtime.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                          "FROM pg_roles WHERE rolname = current_user").fetchone()
    assert row == (False, False, False, False, False)
    owned = runtime.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                            "WHERE r.rolname = current_user").fetchone()[0]
    assert owned == 0
    assert runtime.execute("SELECT current_setting('is_superuser')").fetchone()[0] == "off"


def test_the_application_tables_belong_to_the_owner_role(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        owners = {r[0] for r in cursor.fetchall()}
    assert owners == {settings.DATABASES["default"]["USER"]} and RUNTIME not in owners


@pytest.mark.parametrize("table", ["audit_auditevent", "pghistory_context", "audit_chainlink", "core_subject",
                                   "core_subjectevent", "eligibility_screeningevent"])
def test_truncate_is_refused(runtime, table):
    _refused(runtime, f"TRUNCATE {table}")


def test_truncate_of_every_audit_table_is_refused(runtime):
    for t in audited_tables():
        _refused(runtime, f'TRUNCATE "{t.table}"')


def test_update_of_pghistory_context_is_refused(runtime):
    _refused(runtime, "UPDATE pghistory_context SET metadata = '{}'::jsonb")
    _refused(runtime, "DELETE FROM pghistory_context")
    _refused(runtime, "INSERT INTO pghistory_context (id, metadata, created_at, updated_at) "
                      "VALUES (gen_random_uuid(), '{}', now(), now())")


def test_update_and_delete_of_audit_events_are_refused_by_privilege(runtime):
    for t in audited_tables():
        _refused(runtime, f'UPDATE "{t.table}" SET "{t.pk}" = "{t.pk}"')
        _refused(runtime, f'DELETE FROM "{t.table}"')


def test_session_replication_role_cannot_be_changed(runtime):
    _refused(runtime, "SET session_replication_role = replica")


@pytest.mark.parametrize("table", ["audit_auditevent", "core_subjectevent", "core_subject", "pghistory_context"])
def test_triggers_cannot_be_disabled_or_dropped(runtime, table):
    _refused(runtime, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    _refused(runtime, f"ALTER TABLE {table} DISABLE TRIGGER edc_audit_chain" if table != "core_subject"
             else f"ALTER TABLE {table} DISABLE TRIGGER USER")
    _refused(runtime, f"DROP TABLE {table}")


def test_the_chain_cannot_be_written_or_forged(runtime):
    _refused(runtime, "INSERT INTO audit_chainlink (created_at, table_name, row_id, row_hash, prev_hash, hash) "
                      "VALUES (now(), 'x', '1', 'x', '', 'x')")
    _refused(runtime, "UPDATE audit_chainlink SET hash = 'x'")
    _refused(runtime, "SELECT edc_audit_chain_append('audit_auditevent', '1', '(1)', 1::smallint)")
    _refused(runtime, "CREATE TABLE edc_forged (id int)")
    _refused(runtime, "CREATE OR REPLACE FUNCTION edc_audit_row_hash(tbl text, rowid text, doc jsonb) "
                      "RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$")
    _refused(runtime, "CREATE OR REPLACE FUNCTION edc_audit_record_hash(tbl text, rowid text, rec text) "
                      "RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$")


def test_runtime_role_may_insert_action_events(runtime):
    runtime.execute("BEGIN")
    runtime.execute("INSERT INTO audit_auditevent (at, action, actor_username, object_type, object_id, summary, "
                    "detail, reason, reveals_allocation) VALUES (now(), 'other', 'x', '', '', 'probe', '{}', '', false)")
    runtime.execute("ROLLBACK")


@pytest.mark.django_db(transaction=True)
def test_the_whole_application_works_as_the_runtime_role():
    """Seeding a study goes through every service (screening, randomization, follow-up CRFs,
    notifications, audit events); as the runtime role it succeeds, and the chain is intact."""
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{RUNTIME}"')
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == RUNTIME
        call_command("seed_demo", "--subjects", "3", stdout=StringIO())
        from core.models import Subject

        assert Subject.objects.count() == 3
        result = verify_chain()
        assert result.ok, result.problems
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pghistory_context")
            assert cursor.fetchone()[0] > 0  # contexts written through the owner's function
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
