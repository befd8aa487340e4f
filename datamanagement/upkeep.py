"""The write guard's upkeep after a change, as one PL/pgSQL function (installed after every
`migrate`, like the lock triggers):

- a note on each unresolved edit-check query of a changed field whose check no longer fails;
- the SDV marks of the changed fields cleared, each with its own why;
- the valid signatures that covered the changed data broken.

Why a function and not a statement built per save: the statement's three data-modifying
parts cost PostgreSQL about five times more to plan than to run (a save of a follow-up form
spent ~0.9 ms planning and ~0.2 ms executing them). Inside a function the plans are made
once per session and kept (generic plans: the statements are the same for every form and
every save; only the values differ). Each UPDATE and INSERT is audited by its table's
triggers as before, under the audit context of the save.
"""

from __future__ import annotations

from django.db import connection

FUNCTION = "edc_crf_upkeep"
SIGNATURE = (f"{FUNCTION}(text, bigint, timestamptz, text[], text[], text[], text[], text, text, text, jsonb, "
             "text, text, bigint, text, text, text, text)")


def function_sql() -> str:
    from datamanagement.models import Query, QueryMessage, Signature, SourceVerification

    query, message = Query._meta.db_table, QueryMessage._meta.db_table
    sdv, signature = SourceVerification._meta.db_table, Signature._meta.db_table
    return f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(
    p_crf text, p_object bigint, p_now timestamptz,
    p_changed text[], p_sdv_why text[],                -- one why per changed field
    p_failing_checks text[], p_failing_fields text[],  -- the soft checks still failing
    p_note_kind text, p_note_text text, p_note_msgid text, p_note_params jsonb,
    p_origin text, p_closed text,
    p_subject bigint, p_sig_reason text, p_scope_casebook text, p_scope_visit text, p_visit text,
    OUT sdv_cleared bigint, OUT signatures_broken bigint)
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
    AS $$
BEGIN
    INSERT INTO {message} (query_id, kind, author_id, at, text, text_msgid, text_params)
    SELECT q.id, p_note_kind, NULL, p_now, p_note_text, p_note_msgid, p_note_params
    FROM {query} q
    WHERE q.crf_code = p_crf AND q.object_id = p_object AND q.origin = p_origin AND q.status <> p_closed
      AND q.field_name = ANY(p_changed)
      AND NOT EXISTS (SELECT 1 FROM unnest(p_failing_checks, p_failing_fields) AS f(c, n)
                      WHERE f.c = q.check_code AND f.n = q.field_name);

    UPDATE {sdv} s SET active = false, cleared_at = p_now, cleared_reason = c.why
    FROM unnest(p_changed, p_sdv_why) AS c(name, why)
    WHERE s.crf_code = p_crf AND s.object_id = p_object AND s.field_name = c.name AND s.active;
    GET DIAGNOSTICS sdv_cleared = ROW_COUNT;

    -- (no subject: p_subject is NULL and nothing is broken)
    UPDATE {signature} SET broken_at = p_now, broken_reason = p_sig_reason
    WHERE subject_id = p_subject AND broken_at IS NULL
      AND (scope = p_scope_casebook OR (scope = p_scope_visit AND visit = p_visit));
    GET DIAGNOSTICS signatures_broken = ROW_COUNT;
END;
$$;
"""


def install(using=None) -> None:
    from django.db import connections

    from datamanagement.models import SourceVerification

    conn = connections[using] if using else connection
    if SourceVerification._meta.db_table not in set(conn.introspection.table_names()):
        return
    with conn.cursor() as cursor:
        cursor.execute(function_sql())
