"""Least-privilege database roles (SPEC §8; 21 CFR 11.10(d)).

Two roles, as in production (docker-compose.yml, README "Database roles"):

- the **owner** role (`DATABASE_OWNER_URL`) owns every table and runs `migrate` (and backups);
- the **runtime** role (`DATABASE_URL`) is what web, worker and beat connect as: not a
  superuser, owner of nothing, so it cannot TRUNCATE, ALTER TABLE … DISABLE TRIGGER, drop the
  append-only triggers or SET session_replication_role. On the audit tables (pghistory event
  tables, audit_auditevent) it may only SELECT and INSERT; the pghistory contexts and the audit
  chain it may only read — they are written by SECURITY DEFINER trigger functions owned by the
  owner role.

`apply_grants()` runs after every `migrate` (audit.apps), so new tables are covered.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections, transaction

from audit.chain import audited_tables

# Tables the runtime role may read but never write.
READ_ONLY = ("audit_chainlink", "pghistory_context", "django_migrations")


def runtime_role() -> str | None:
    """The runtime role's name, or None when the application runs as the owner (one URL)."""
    return getattr(settings, "EDC_DB_RUNTIME_ROLE", None) or None


def _ident(cursor, name: str) -> str:
    cursor.execute("SELECT quote_ident(%s)", [name])
    return cursor.fetchone()[0]


def apply_grants(using: str = "default") -> bool:
    """Grant the runtime role exactly what the application needs. Returns False (and does
    nothing) when there is no separate runtime role."""
    conn = connections[using]
    with transaction.atomic(using=using), conn.cursor() as cursor:
        # The context function runs as its owner: the runtime role needs no write right on
        # pghistory_context (who/why/IP of a change) at all.
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = '_pgh_attach_context'")
        if cursor.fetchone():
            cursor.execute("ALTER FUNCTION _pgh_attach_context() SECURITY DEFINER "
                           "SET search_path = public, pg_temp")
        for fn in ("edc_audit_chain_append(text, text, text, smallint)", "edc_audit_chain_backfill(text, text)"):
            cursor.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        role = runtime_role()
        if not role:
            return False
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            return False
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return False
        r = _ident(cursor, role)
        cursor.execute("SELECT quote_ident(current_schema())")
        schema = cursor.fetchone()[0]
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {r}")
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {r}")
        cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {r}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {r}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}")
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        existing = {row[0] for row in cursor.fetchall()}
        audit = [t.table for t in audited_tables() if t.table in existing]
        for table in audit:
            cursor.execute(f'REVOKE UPDATE, DELETE ON "{table}" FROM {r}')
        for table in READ_ONLY:
            if table in existing:
                cursor.execute(f'REVOKE INSERT, UPDATE, DELETE ON "{table}" FROM {r}')
        if "audit_chainlink" in existing:
            cursor.execute(f"REVOKE ALL ON SEQUENCE audit_chainlink_id_seq FROM {r}")
    return True
