"""The hot path of subject_randomize in hand-written SQL (two statements).

Randomization is the one write where seconds matter and where requests queue on a shared lock
(the stratum's next list entry, the site's subject counter), so its statements are written by
hand instead of composed by the ORM: composing a locking read with select_related and
annotations costs more Python time than PostgreSQL needs to run it, and every millisecond spent
in Python while a stratum is locked is a millisecond every other randomization of the stratum
waits (make bench: bench_randomization).

Table and column names come from the models' _meta, so a renamed table cannot silently point
elsewhere; a new NOT NULL column without a database default makes the inserts fail loudly in
tests/randomization. The locking policy is written down in services.randomize_locked.
"""

from __future__ import annotations

import functools
import re
import weakref
from typing import Any

from django.db import connection

from audit.models import AuditEvent
from core.models import Site, SiteCounter, Subject
from datamanagement.models import Lock, LockLevel
from eligibility.models import Screening
from randomization.models import Allocation, AllocationEntry, AllocationList, TrialConfig


class Prepared:
    """A statement PREPAREd once per database session and then EXECUTEd: PostgreSQL plans it
    once (planning the allocation statement takes about as long as running it), not on every
    randomization. Written with %(name)s placeholders; `types` gives each one's SQL type.

    Prepared statements live in the session, not the transaction (a rollback keeps them), so
    a set of the driver connections they were prepared on is enough. A pooler that resets
    sessions between transactions (PgBouncer transaction mode) is not supported; session
    pooling and Django's persistent connections are."""

    def __init__(self, name: str, build_sql, types: dict[str, str]):
        self.name, self._build_sql, self.types = name, build_sql, types
        self._sessions: weakref.WeakSet = weakref.WeakSet()
        self._order: list[str] | None = None
        self._prepare_sql: str | None = None

    def _compile(self) -> None:
        order: list[str] = []

        def number(match: re.Match) -> str:
            key = match.group(1)
            if key not in order:
                order.append(key)
            return f"${order.index(key) + 1}"

        body = re.sub(r"%\((\w+)\)s", number, self._build_sql())
        types = ", ".join(self.types[key] for key in order)
        self._order, self._prepare_sql = order, f"PREPARE {self.name} ({types}) AS {body}"

    def execute(self, cursor, params: dict[str, Any]) -> None:
        if self._prepare_sql is None:
            self._compile()
        session = connection.connection
        if session not in self._sessions:
            cursor.execute(self._prepare_sql)
            self._sessions.add(session)
        cursor.execute(f"EXECUTE {self.name} ({', '.join(['%s'] * len(self._order))})",
                       [params[key] for key in self._order])


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def _instance(model, values: tuple):
    """A model instance from a row holding its concrete fields in _meta order, converted as
    the ORM converts them (e.g. JSON text → Python)."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        if value is not None and hasattr(field, "from_db_value"):
            value = field.from_db_value(value, None, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


@functools.cache
def _lock_screening_sql() -> str:
    screening, site = Screening._meta.db_table, Site._meta.db_table
    config, lock = TrialConfig._meta.db_table, Lock._meta.db_table
    from datamanagement.crfs import crf_of

    return f"""
SELECT {_columns(Screening, "s")}, {_columns(Site, "t")},
       c.method, c.minimisation_p, c.low_stratum_threshold,
       EXISTS (SELECT 1 FROM {lock} k WHERE k.active AND (k.level = '{LockLevel.DATABASE}'
               OR (k.level = '{LockLevel.FORM}' AND k.crf_code = '{crf_of(Screening).code}' AND k.object_id = s.id)))
FROM {screening} s
JOIN {site} t ON t.id = s.site_id
LEFT JOIN {config} c ON c.id = 1
WHERE s.id = %(screening)s
FOR NO KEY UPDATE OF s
"""


_LOCK_SCREENING = Prepared("randomization_lock_screening", _lock_screening_sql, {"screening": "bigint"})


def screening_lock(screening_id: int) -> tuple[Screening, dict[str, Any]] | None:
    """Step 1 of the locking policy: lock the screening row; return it (with its site) and
    {"method", "minimisation_p", "low_stratum_threshold"} (None each when the trial
    configuration was never saved) and "locked" (a database lock or a lock on this screening
    form is active). Only the screening row is locked, not the joined site or configuration.

    Read committed: when this waited for another transaction on the same screening, the row
    returned is the committed one, but the other columns come from a snapshot taken before
    the wait — the caller must look up anything that other transaction may have written
    (its allocation) in a statement of its own."""
    with connection.cursor() as cursor:
        _LOCK_SCREENING.execute(cursor, {"screening": screening_id})
        row = cursor.fetchone()
    if row is None:
        return None
    n, m = len(Screening._meta.concrete_fields), len(Site._meta.concrete_fields)
    screening = _instance(Screening, row[:n])
    screening.site = _instance(Site, row[n:n + m])
    method, minimisation_p, threshold, locked = row[n + m:]
    return screening, {"method": method, "minimisation_p": minimisation_p,
                       "low_stratum_threshold": threshold, "locked": locked}


@functools.cache
def _allocate_sql() -> str:
    entry, lst, counter = AllocationEntry._meta.db_table, AllocationList._meta.db_table, SiteCounter._meta.db_table
    subject, allocation, event = Subject._meta.db_table, Allocation._meta.db_table, AuditEvent._meta.db_table
    # Steps 2a and 3 of the locking policy and every insert in ONE statement: the stratum and
    # the site counter are held for this statement and the commit, with no round trip to
    # Python in between. Lock order is forced by data flow: `counter` reads from `pick`, which
    # reads the locked `entry`, so the entry is always locked before the site counter. For
    # minimisation (%(blocks)s false) `entry` reads nothing and `pick` is the chosen arm.
    return f"""
WITH entry AS (
    SELECT e.id, e.list_id, e.arm, e.sequence, e.stratum_size
    FROM {entry} e JOIN {lst} l ON l.id = e.list_id
    WHERE %(blocks)s AND l.active AND e.stratum = %(stratum)s AND NOT e.used
    ORDER BY e.list_id, e.sequence
    LIMIT 1
    FOR NO KEY UPDATE OF e
), pick AS (
    SELECT id, list_id, arm, sequence, stratum_size FROM entry
    UNION ALL
    SELECT NULL, NULL, %(arm)s, NULL, NULL WHERE NOT %(blocks)s
), used AS (
    UPDATE {entry} t SET used = true, used_at = %(now)s FROM pick WHERE t.id = pick.id RETURNING t.id
), frozen AS (
    UPDATE {lst} t SET frozen = true FROM pick
    WHERE t.id = pick.list_id AND pick.sequence = 1 AND NOT t.frozen RETURNING t.id
), counter AS (
    INSERT INTO {counter} (site_id, kind, value) SELECT %(site)s, 'subject', 1 FROM pick
    ON CONFLICT (site_id, kind) DO UPDATE SET value = {counter}.value + 1
    RETURNING value
), subject AS (
    INSERT INTO {subject} (number, site_id, randomized_at, status, created_at)
    SELECT %(site_code)s || '-' || lpad(value::text, greatest(4, length(value::text)), '0'),
           %(site)s, %(now)s, %(status)s, %(at)s
    FROM counter
    RETURNING id, number
), allocation AS (
    INSERT INTO {allocation} (screening_id, subject_id, entry_id, method, arm, stratum, factors,
                              minimisation_detail, randomized_at, randomized_by_id)
    SELECT %(screening)s, subject.id, pick.id,
           CASE WHEN pick.id IS NULL THEN %(minimisation)s ELSE %(blocks_name)s END,
           pick.arm, %(stratum)s, %(factors)s::jsonb, %(detail)s::jsonb, %(now)s, %(user)s
    FROM subject, pick
    RETURNING id, method
), event AS (
    INSERT INTO {event} (at, action, actor_id, actor_username, site_id, object_type, object_id, summary,
                         detail, reason, reveals_allocation, ip, request_id)
    SELECT %(at)s, %(action)s, %(user)s, %(username)s, %(site)s, %(object_type)s, allocation.id::text,
           %(summary)s || subject.number,
           %(event_detail)s::jsonb || jsonb_build_object('subject', subject.number, 'method', allocation.method),
           '', true, %(ip)s, %(request_id)s
    FROM allocation, subject
)
SELECT allocation.id, subject.id, subject.number, pick.id, pick.arm, pick.sequence, pick.stratum_size
FROM allocation, subject, pick
"""


_ALLOCATE = Prepared("randomization_allocate", _allocate_sql, {
    "blocks": "boolean", "stratum": "text", "arm": "text", "now": "timestamptz", "at": "timestamptz",
    "site": "bigint", "site_code": "text", "status": "text", "screening": "bigint", "user": "bigint",
    "username": "text", "minimisation": "text", "blocks_name": "text", "factors": "jsonb", "detail": "jsonb",
    "action": "text", "object_type": "text", "summary": "text", "event_detail": "jsonb", "ip": "inet",
    "request_id": "uuid",
})


def allocate(params: dict[str, Any]) -> tuple | None:
    """Steps 2a and 3: take the entry (or use the minimised arm), number and create the subject,
    create the allocation and its audit event. Returns (allocation id, subject id, subject
    number, entry id, arm, entry sequence, stratum size), or None when the stratum is empty."""
    with connection.cursor() as cursor:
        _ALLOCATE.execute(cursor, params)
        return cursor.fetchone()
