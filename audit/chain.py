"""The tamper-evident audit chain (21 CFR 11.10(e); EU Annex 11 §9).

Every audit record — each pghistory event row (data changes), each `audit.AuditEvent` (sign-in,
randomization, export...) and each version of a pghistory context (who / roles / IP / request /
reason of a change) — gets one `audit.ChainLink`, written by PostgreSQL itself:

    row_hash = sha256("<table>:<row id>:<the row as jsonb text>")
    hash     = sha256("<previous link's hash>:<link id>:<row_hash>")

The links are appended by a DEFERRABLE INITIALLY DEFERRED constraint trigger, i.e. at commit
time, under a transaction-level advisory lock: the chain follows commit order and the lock is
held only for the few statements of the commit, not for the whole transaction. The trigger
function is SECURITY DEFINER (owned by the owner role): the runtime role cannot write links
itself.

`verify_chain()` (and `python manage.py audit_verify`) recomputes every row hash from the rows
as they are now and every link hash from its predecessor, and names the first broken link: a
row edited or deleted by anyone (even the database owner, triggers disabled), a link removed or
rewritten, a record without a link (inserted with the triggers off), or an audited table that
is not chained at all. A database owner could still recompute the whole chain after an edit;
that is what the chain head published with every audit export and backup manifest is for:
`verify_chain(expected_head=...)` checks that an archived head is still part of the chain.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from django.db import connection, transaction

LOCK_KEY = 7231000012  # pg_advisory_xact_lock key of the chain
TRIGGER_NAME = "edc_audit_chain"

# The settings under which a record's text is its canonical form (the trigger functions pin them
# with SET; the verification sets them LOCAL): the record text depends on them.
CANONICAL_SETTINGS = (("timezone", "UTC"), ("extra_float_digits", "1"), ("datestyle", "ISO, MDY"),
                      ("intervalstyle", "postgres"), ("bytea_output", "hex"))
_SET = " ".join(f"SET {name} = '{value}'" for name, value in CANONICAL_SETTINGS)

# Hash formats of a link's row_hash (ChainLink.fmt):
#   NULL / 1  sha256("<table>:<row id>:<the row as jsonb text>")   (links written before 2026-12)
#   2         sha256("<table>:<row id>:<the row's record text>")   e.g. (5,"2026-12-02 04:00:00+00",t)
# The record text is PostgreSQL's own output of the row, in column order, ~6x cheaper to make than
# the jsonb text (a commit-time cost of every audited write, and all of a restore's verification).
FMT_JSONB, FMT_RECORD = 1, 2

FUNCTIONS_SQL = f"""
CREATE OR REPLACE FUNCTION edc_audit_row_hash(tbl text, rowid text, doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT encode(sha256(convert_to(tbl || ':' || rowid || ':' || doc::text, 'UTF8')), 'hex') $$;

CREATE OR REPLACE FUNCTION edc_audit_record_hash(tbl text, rowid text, rec text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT encode(sha256(convert_to(tbl || ':' || rowid || ':' || rec, 'UTF8')), 'hex') $$;

DROP FUNCTION IF EXISTS edc_audit_chain_append(text, text, jsonb);

CREATE OR REPLACE FUNCTION edc_audit_chain_append(tbl text, rowid text, rec text, nc smallint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp {_SET}
    AS $$
DECLARE
    rh text := edc_audit_record_hash(tbl, rowid, rec);
    prev text;
    lid bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    SELECT hash INTO prev FROM audit_chainlink ORDER BY id DESC LIMIT 1;
    prev := COALESCE(prev, '');
    lid := nextval(pg_get_serial_sequence('audit_chainlink', 'id'));
    INSERT INTO audit_chainlink (id, created_at, table_name, row_id, row_hash, ncols, fmt, prev_hash, hash)
    VALUES (lid, clock_timestamp(), tbl, rowid, rh, nc, {FMT_RECORD}, prev,
            encode(sha256(convert_to(prev || ':' || lid::text || ':' || rh, 'UTF8')), 'hex'));
END;
$$;

-- How many (live) columns a table's records have now: columns added to the table later are
-- left out when an older record's hash is recomputed, so a migration never breaks the chain.
CREATE OR REPLACE FUNCTION edc_audit_live_columns(rel oid) RETURNS smallint
    LANGUAGE sql STABLE
    AS $$ SELECT count(*)::smallint FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped $$;

CREATE OR REPLACE FUNCTION edc_audit_chain_link() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp {_SET}
    AS $$
DECLARE
    rid text;
BEGIN
    -- the primary key by name (the two names audited tables use, else dynamically)
    IF TG_ARGV[0] = 'pgh_id' THEN
        rid := NEW.pgh_id::text;
    ELSIF TG_ARGV[0] = 'id' THEN
        rid := NEW.id::text;
    ELSE
        EXECUTE format('SELECT ($1).%I::text', TG_ARGV[0]) USING NEW INTO rid;
    END IF;
    PERFORM edc_audit_chain_append(TG_TABLE_NAME::text, rid, NEW::text, edc_audit_live_columns(TG_RELID));
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION edc_audit_chain_backfill(tbl text, pk text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = public, pg_temp {_SET}
    AS $$
DECLARE
    r record;
    n integer := 0;
    nc smallint := edc_audit_live_columns(tbl::regclass);
BEGIN
    FOR r IN EXECUTE format(
        'SELECT (t.%I)::text AS rid, t::text AS rec FROM %I t WHERE NOT EXISTS (SELECT 1 FROM audit_chainlink l '
        'WHERE l.table_name = %L AND l.row_id = (t.%I)::text) ORDER BY t.%I', pk, tbl, tbl, pk, pk)
    LOOP
        PERFORM edc_audit_chain_append(tbl, r.rid, r.rec, nc);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
"""


@dataclass(frozen=True)
class AuditedTable:
    table: str
    pk: str
    versioned: bool = False  # rows legitimately change (pghistory contexts): one link per version


def audited_tables() -> list[AuditedTable]:
    """Every table that holds audit records: all pghistory event tables (also those of models
    added later), the action events and the pghistory contexts."""
    import pghistory.core

    tables = {m._meta.db_table: AuditedTable(m._meta.db_table, m._meta.pk.column)
              for m in pghistory.core.event_models() if m._meta.managed and not m._meta.proxy}
    tables["audit_auditevent"] = AuditedTable("audit_auditevent", "id")
    tables["pghistory_context"] = AuditedTable("pghistory_context", "id", versioned=True)
    return sorted(tables.values(), key=lambda t: t.table)


def _existing_tables(cursor) -> set[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {row[0] for row in cursor.fetchall()}


def _chained_tables(cursor) -> set[str]:
    cursor.execute("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                   "WHERE t.tgname = %s AND t.tgenabled <> 'D'", [TRIGGER_NAME])
    return {row[0] for row in cursor.fetchall()}


def install(using: str = "default") -> int:
    """Create the chain functions and a chain trigger on every audited table that lacks one,
    then link the records written before (in table, id order). Idempotent; run by the
    migration and after every `migrate` (post_migrate), so tables of new tracked models are
    chained too. Returns how many existing records were linked."""
    from django.db import connections

    conn = connections[using]
    linked = 0
    with transaction.atomic(using=using), conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('audit_chainlink') "
                       "AND attname = 'fmt' AND NOT attisdropped")
        if cursor.fetchone() is None:
            # An early migration of a new database (the chain's table is not complete yet):
            # the migration that completes it installs the chain and links what came before.
            return 0
        cursor.execute(FUNCTIONS_SQL)
        existing = _existing_tables(cursor)
        chained = _chained_tables(cursor)
        for t in audited_tables():
            if t.table not in existing:
                continue
            if t.table not in chained:
                ops = "INSERT OR UPDATE" if t.versioned else "INSERT"
                cursor.execute(f'DROP TRIGGER IF EXISTS {TRIGGER_NAME} ON "{t.table}"')
                cursor.execute(
                    f'CREATE CONSTRAINT TRIGGER {TRIGGER_NAME} AFTER {ops} ON "{t.table}" '
                    f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                    f"EXECUTE FUNCTION edc_audit_chain_link('{t.pk}')")
            cursor.execute("SELECT edc_audit_chain_backfill(%s, %s)", [t.table, t.pk])
            linked += cursor.fetchone()[0]
    return linked


def chain_head() -> dict:
    """The newest link: {"link": id, "table": ..., "id": row id, "hash": hex, "at": iso}
    ({"link": 0, "hash": ""} for an empty chain). Published with audit exports and backups."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, table_name, row_id, hash, created_at FROM audit_chainlink "
                       "ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return {"link": 0, "table": "", "id": "", "hash": "", "at": ""}
    return {"link": row[0], "table": row[1], "id": row[2], "hash": row[3], "at": row[4].isoformat()}


@dataclass
class VerifyResult:
    ok: bool
    first_broken: str | None = None
    links: int = 0
    problems: list[str] = field(default_factory=list)
    head: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok


def _check_links(cursor) -> tuple[list[tuple[int, str]], int]:
    """1. Each link follows from its predecessor: one ordered scan of the chain in SQL (the
    predecessor by a window function, the link hash recomputed by PostgreSQL's sha256)."""
    cursor.execute(
        "SELECT id, table_name, row_id, prev_hash <> prev AS unlinked FROM ("
        "  SELECT id, table_name, row_id, row_hash, prev_hash, hash,"
        "         lag(hash, 1, '') OVER (ORDER BY id) AS prev FROM audit_chainlink) c "
        "WHERE prev_hash <> prev OR hash <> encode(sha256(convert_to("
        "      prev_hash || ':' || id::text || ':' || row_hash, 'UTF8')), 'hex') "
        "ORDER BY id LIMIT 1")
    row = cursor.fetchone()
    failures = []
    if row is not None:
        link_id, table, row_id, unlinked = row
        failures.append((link_id, f"link {link_id} ({table} id={row_id}): " + (
            "does not follow the previous link (a link was removed, inserted or rewritten)"
            if unlinked else "link hash rewritten")))
    cursor.execute("SELECT count(*) FROM audit_chainlink")
    return failures, cursor.fetchone()[0]


def _set_canonical(cursor) -> None:
    cursor.execute("; ".join(f"SET LOCAL {name} = '{value}'" for name, value in CANONICAL_SETTINGS))


def _check_table(cursor, t: AuditedTable) -> tuple[list[tuple[int, str]], int]:
    """2. Each record of the table is as it was when linked; 3. each record has a link. One FULL
    JOIN between the table's links (the newest per row for versioned tables) and its rows: a
    FULL JOIN can only be a hash or merge join, so this is one pass over each side whatever the
    statistics say (an anti-join here let the planner pick a nested loop that compared every
    link with every row).

    Each link's row hash is recomputed in its own format (ChainLink.fmt) and over the columns
    the record had when it was linked (ChainLink.ncols: a migration may have added columns
    since; they come last in column order). The statement computes only the forms the
    table's links need: for a table whose links are all of the current format and width, the
    record text of each row and nothing else."""
    links = ("SELECT DISTINCT ON (row_id) id, row_id, row_hash, ncols, fmt FROM audit_chainlink "
             "WHERE table_name = %s ORDER BY row_id, id DESC") if t.versioned else (
             "SELECT id, row_id, row_hash, ncols, fmt FROM audit_chainlink WHERE table_name = %s")
    cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                   "AND NOT attisdropped ORDER BY attnum", [t.table])
    columns = [name for (name,) in cursor.fetchall()]
    width = len(columns)
    cursor.execute("SELECT DISTINCT coalesce(fmt, %s), least(coalesce(ncols, %s), %s) FROM audit_chainlink "
                   "WHERE table_name = %s", [FMT_JSONB, width, width, t.table])
    forms = sorted(cursor.fetchall())
    params: list = []
    branches = []
    for fmt, ncols in forms:
        if fmt == FMT_RECORD:
            rec = "r.rec" if ncols == width else (
                "ROW(" + ", ".join(f'(r.whole)."{c}"' for c in columns[:ncols]) + ")::text")
            expr = f"edc_audit_record_hash(%s, l.row_id, {rec})"
        else:
            doc = "to_jsonb(r.whole)" if ncols == width else "to_jsonb(r.whole) - (%s::text[])"
            expr = f"edc_audit_row_hash(%s, l.row_id, {doc})"
        params.append(t.table)
        if fmt != FMT_RECORD and ncols != width:
            params.append(columns[ncols:])
        branches.append((f"coalesce(l.fmt, {FMT_JSONB}) = {int(fmt)} AND least(coalesce(l.ncols, {width}), "
                         f"{width}) = {int(ncols)}", expr))
    if not branches:
        recomputed = "NULL"
    elif len(branches) == 1:
        recomputed = branches[0][1]
    else:
        recomputed = "CASE " + " ".join(f"WHEN {cond} THEN {expr}" for cond, expr in branches) + " END"
    # The row's record text where links of the current format and width need it; the whole row
    # where another form must be made from it.
    needs_whole = any(not (fmt == FMT_RECORD and ncols == width) for fmt, ncols in forms)
    row_columns = f't."{t.pk}" AS pk, (t."{t.pk}")::text AS rid, t::text AS rec' + (", t AS whole" if needs_whole else "")
    cursor.execute(
        f"SELECT min(l.id) FILTER (WHERE r.rid IS NULL OR {recomputed} IS DISTINCT FROM l.row_hash), "
        f"       (array_agg(r.pk ORDER BY r.pk) FILTER (WHERE l.id IS NULL))[1] "
        f"FROM ({links}) l FULL JOIN ("
        f'  SELECT {row_columns} FROM "{t.table}" t'
        f") r ON r.rid = l.row_id",
        [*params, t.table])
    broken_link, unlinked_pk = cursor.fetchone()
    failures = []
    if broken_link is not None:
        cursor.execute(
            f'SELECT l.row_id, t."{t.pk}" IS NULL FROM audit_chainlink l '
            f'LEFT JOIN "{t.table}" t ON (t."{t.pk}")::text = l.row_id WHERE l.id = %s',
            [broken_link])
        row_id, missing = cursor.fetchone()
        what = "record deleted" if missing else "record changed after it was written"
        failures.append((broken_link, f"link {broken_link} ({t.table} id={row_id}): {what}"))
    if unlinked_pk is not None:
        failures.append((10**18, f"{t.table} id={unlinked_pk}: record has no chain link "
                                 f"(written with the audit triggers disabled)"))
    return failures, 0


def _workers() -> int:
    from django.conf import settings

    configured = getattr(settings, "EDC_AUDIT_VERIFY_WORKERS", None)
    return max(1, int(configured)) if configured else min(4, os.cpu_count() or 1)


def _run_in_snapshot(jobs, snapshot: str, workers: int):
    """Run the checks on `workers` connections of their own, all reading the one snapshot the
    caller exported (as pg_dump --jobs does): the verification sees a single instant of the
    database however the work is split."""
    import psycopg
    from psycopg import sql

    params = {k: v for k, v in connection.get_connection_params().items()
              if k not in ("cursor_factory", "context", "prepare_threshold", "server_side_binding")}

    def work(job_slice):
        out = []
        with psycopg.connect(**params, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            _set_canonical(cursor)
            for job in job_slice:
                out.append(job(cursor))
            cursor.execute("ROLLBACK")
        return out

    slices = [jobs[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r for part in pool.map(work, slices) for r in part]


def verify_chain(*, expected_head: str | None = None, workers: int | None = None) -> VerifyResult:
    """Recompute the whole chain. `first_broken` names the earliest broken link (table, row id
    and link id, and what is wrong); `problems` lists one line per kind of breakage found.
    With `expected_head` (a hash from an earlier export or backup manifest) also check that
    this head is still a link of the chain.

    The work (the chain scan, then one check per audited table) is shared among `workers`
    connections reading one exported snapshot (default: EDC_AUDIT_VERIFY_WORKERS, else up to 4
    by CPU count); inside a caller's open transaction it all runs on that transaction, which
    sees the caller's own uncommitted rows."""
    failures: list[tuple[int, str]] = []  # (link id or a large number, description)
    tables = audited_tables()
    workers = workers or _workers()
    inline = workers == 1 or connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if not inline:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _set_canonical(cursor)
        existing = _existing_tables(cursor)
        chained = _chained_tables(cursor)
        for t in tables:
            if t.table in existing and t.table not in chained:
                failures.append((-1, f"table {t.table} is not chained (its chain trigger is missing or disabled)"))
        jobs = [_check_links] + [partial(_check_table, t=t) for t in tables if t.table in existing]
        if inline:
            results = [job(cursor) for job in jobs]
        else:
            cursor.execute("SELECT pg_export_snapshot()")
            results = _run_in_snapshot(jobs, cursor.fetchone()[0], workers)
        count = sum(n for _, n in results)
        failures += [f for found, _ in results for f in found]
        if expected_head:
            cursor.execute("SELECT id FROM audit_chainlink WHERE hash = %s", [expected_head])
            if cursor.fetchone() is None:
                failures.append((10**18 + 1, f"the archived chain head {expected_head} is no longer part of "
                                             f"the chain (history rewritten or truncated)"))
    head = chain_head()
    failures.sort(key=lambda f: f[0])
    return VerifyResult(ok=not failures, first_broken=failures[0][1] if failures else None, links=count,
                        problems=[f[1] for f in failures], head=head)
