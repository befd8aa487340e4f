"""The tamper-evident audit chain (audit/chain.py): every audit record is linked at commit, and
`audit_verify` names the first broken link — even after an edit by the database owner."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit.chain import chain_head, verify_chain

# Links are appended by deferred (commit-time) triggers: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded():
    call_command("seed_demo", "--subjects", "4", stdout=StringIO())


def _owner_sql(*statements):
    """What a database owner (the tests connect as the owner role) could do by hand."""
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _append_only_trigger(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE c.relname = %s AND tgname LIKE 'pgtrigger_append_only%%'", [table])
        return cursor.fetchone()[0]


def test_audit_verify_passes_on_a_seeded_study_and_every_record_is_linked(seeded):
    from audit.models import AuditEvent, ChainLink

    result = verify_chain()
    assert result.ok, result.problems
    assert result.links == ChainLink.objects.count()
    # data events, action events and contexts are all in the chain
    tables = set(ChainLink.objects.values_list("table_name", flat=True))
    assert {"audit_auditevent", "pghistory_context", "eligibility_screeningevent", "core_subjectevent"} <= tables
    assert ChainLink.objects.filter(table_name="audit_auditevent").count() == AuditEvent.objects.count()
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "Audit chain intact" in out.getvalue()
    head = chain_head()
    assert len(head["hash"]) == 64 and head["link"] == ChainLink.objects.order_by("-id").first().id


def test_audit_verify_names_the_event_row_an_owner_updated_with_triggers_disabled(seeded):
    from core.models import Subject

    subject = Subject.objects.order_by("pk").first()
    event_table = "core_subjectevent"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(pgh_id) FROM {event_table} WHERE pgh_obj_id = %s", [str(subject.pk)])
        pgh_id = cursor.fetchone()[0]
    trigger = _append_only_trigger(event_table)
    _owner_sql(f"ALTER TABLE {event_table} DISABLE TRIGGER {trigger}",
               f"UPDATE {event_table} SET number = 'FORGED' WHERE pgh_id = {pgh_id}",
               f"ALTER TABLE {event_table} ENABLE TRIGGER {trigger}")
    result = verify_chain()
    assert not result.ok
    assert f"{event_table} id={pgh_id}" in result.first_broken
    assert "changed" in result.first_broken
    with pytest.raises(CommandError, match=f"{event_table} id={pgh_id}"):
        call_command("audit_verify", stdout=StringIO())


def test_audit_verify_names_an_action_event_and_a_context_rewritten_by_the_owner(seeded):
    from audit.models import AuditEvent

    event = AuditEvent.objects.order_by("id")[2]
    trigger = _append_only_trigger("audit_auditevent")
    _owner_sql("ALTER TABLE audit_auditevent DISABLE TRIGGER " + trigger,
               f"UPDATE audit_auditevent SET ip = '10.6.6.6' WHERE id = {event.id}",
               "ALTER TABLE audit_auditevent ENABLE TRIGGER " + trigger)
    result = verify_chain()
    assert not result.ok and f"audit_auditevent id={event.id}" in result.first_broken

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM pghistory_context ORDER BY created_at LIMIT 1")
        ctx = cursor.fetchone()[0]
    # Even with the chain trigger itself switched off, the rewrite of who/why is detected.
    _owner_sql("ALTER TABLE pghistory_context DISABLE TRIGGER edc_audit_chain",
               f"UPDATE pghistory_context SET metadata = metadata || '{{\"username\": \"someone\"}}' WHERE id = '{ctx}'",
               "ALTER TABLE pghistory_context ENABLE TRIGGER edc_audit_chain")
    problems = "\n".join(verify_chain().problems)
    assert f"pghistory_context id={ctx}" in problems


def test_deleted_link_deleted_row_unlinked_row_and_lost_head_are_each_detected(seeded):
    from audit.models import AuditEvent, ChainLink

    old_head = chain_head()["hash"]
    middle = ChainLink.objects.order_by("id")[10]
    _owner_sql(f"DELETE FROM audit_chainlink WHERE id = {middle.id}")
    result = verify_chain()
    assert not result.ok and f"link {middle.id + 1}" in result.first_broken
    assert "does not follow" in result.first_broken

    call_command("flush", "--noinput")  # a fresh, empty audit trail
    call_command("seed_demo", "--subjects", "1", stdout=StringIO())
    assert verify_chain().ok
    # an action event written with the chain trigger disabled has no link
    _owner_sql("ALTER TABLE audit_auditevent DISABLE TRIGGER edc_audit_chain")
    forged = AuditEvent.objects.create(action="other", summary="inserted behind the chain's back")
    _owner_sql("ALTER TABLE audit_auditevent ENABLE TRIGGER edc_audit_chain")
    problems = verify_chain().problems
    assert any(f"audit_auditevent id={forged.id}: record has no chain link" in p for p in problems)
    # an archived head that the chain no longer contains (rewritten history)
    assert any("no longer part of the chain" in p for p in verify_chain(expected_head=old_head).problems)


def test_a_disabled_chain_trigger_is_reported(seeded):
    _owner_sql("ALTER TABLE core_subjectevent DISABLE TRIGGER edc_audit_chain")
    try:
        result = verify_chain()
    finally:
        _owner_sql("ALTER TABLE core_subjectevent ENABLE TRIGGER edc_audit_chain")
    assert not result.ok and "core_subjectevent is not chained" in result.first_broken


def test_the_audit_csv_export_carries_the_chain_head(personas, client_for):
    client = client_for("datamanager")
    response = client.get(reverse("datamanagement:audit") + "?format=csv")
    assert response.status_code == 200
    body = response.content.decode()
    last = body.strip().splitlines()[-1]
    head = chain_head()  # the export's own audit event is the newest link
    assert "chain_head" in last and head["hash"] in last
    assert response["X-Audit-Chain-Head"] == f"{head['link']}:{head['hash']}"
    assert verify_chain(expected_head=head["hash"]).ok


def test_a_rewritten_link_hash_is_named_and_the_first_of_two_breaks_comes_first(seeded):
    from audit.models import ChainLink

    links = list(ChainLink.objects.order_by("id")[:30])
    early, late = links[5], links[25]
    # the owner rewrites a later link's hash and edits the row of an earlier link
    _owner_sql(f"UPDATE audit_chainlink SET hash = repeat('0', 64) WHERE id = {late.id}")
    result = verify_chain()
    assert not result.ok and result.first_broken.startswith(f"link {late.id} ")
    assert "link hash rewritten" in result.first_broken
    assert result.links == ChainLink.objects.count()
    _owner_sql(f"UPDATE audit_chainlink SET row_hash = repeat('1', 64) WHERE id = {early.id}")
    result = verify_chain()
    assert result.first_broken.startswith(f"link {early.id} ")
    # the work shared among connections reading one snapshot finds exactly what one finds
    alone, shared = verify_chain(workers=1), verify_chain(workers=3)
    assert alone.problems == shared.problems and len(alone.problems) >= 2
    assert alone.links == shared.links == result.links


def test_verification_plans_have_no_nested_loop_over_links_and_rows(seeded):
    """The per-table check joins links and rows with a FULL JOIN, which PostgreSQL can only run
    as a hash or merge join: one pass over each side, never every link against every row (the
    plan that made verification take minutes at 10,000 subjects)."""
    from audit.chain import audited_tables

    captured = []

    def capture(execute, sql, params, many, context):
        if "FULL JOIN" in sql:
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert verify_chain(workers=1).ok
    assert len(captured) == len(audited_tables())
    with connection.cursor() as cursor:
        cursor.execute("SET enable_hashjoin = off")  # even then: merge join, no nested loop
        for sql, params in captured:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
            assert "Full Join" in plan and "Nested Loop" not in plan, plan
        cursor.execute("RESET enable_hashjoin")


def test_a_migration_adding_a_column_to_an_audited_table_keeps_the_chain_verifying(seeded):
    """Adding a field to a form adds a column to its history table (issue 17: a new field touches
    the model and its migration, nothing else). Records linked before keep verifying — their
    hash leaves out the columns added since — while records written after cover the new column,
    and an edit of an old record is still found."""
    from audit.models import ChainLink
    from core.models import Site

    assert verify_chain().ok
    _owner_sql("ALTER TABLE core_siteevent ADD COLUMN region text",
               "ALTER TABLE core_siteevent ADD COLUMN beds integer NOT NULL DEFAULT 0",
               "ALTER TABLE core_site ADD COLUMN region text",
               "ALTER TABLE core_site ADD COLUMN beds integer NOT NULL DEFAULT 0")
    try:
        result = verify_chain()
        assert result.ok, result.problems
        site = Site.objects.order_by("pk").first()
        site.name = site.name + " (renamed)"
        site.save()
        newest = ChainLink.objects.filter(table_name="core_siteevent").order_by("-id").first()
        old = ChainLink.objects.filter(table_name="core_siteevent").order_by("id").first()
        assert newest.ncols == old.ncols + 2
        assert verify_chain().ok
        # the new columns of a record written after the migration are covered by its hash
        _owner_sql("ALTER TABLE core_siteevent DISABLE TRIGGER USER",
                   f"UPDATE core_siteevent SET beds = 40 WHERE pgh_id = {newest.row_id}",
                   "ALTER TABLE core_siteevent ENABLE TRIGGER USER")
        result = verify_chain()
        assert result.first_broken.startswith(f"link {newest.id} (core_siteevent")
        assert "changed after it was written" in result.first_broken
        # and an old record's edit is found too (the earliest broken link is named first)
        _owner_sql("ALTER TABLE core_siteevent DISABLE TRIGGER USER",
                   f"UPDATE core_siteevent SET pgh_label = 'x' WHERE pgh_id = {old.row_id}",
                   "ALTER TABLE core_siteevent ENABLE TRIGGER USER")
        assert verify_chain().first_broken.startswith(f"link {old.id} (core_siteevent")
    finally:
        _owner_sql("ALTER TABLE core_siteevent DISABLE TRIGGER USER",
                   "ALTER TABLE core_siteevent DROP COLUMN region", "ALTER TABLE core_siteevent DROP COLUMN beds",
                   "ALTER TABLE core_siteevent ENABLE TRIGGER USER",
                   "ALTER TABLE core_site DROP COLUMN region", "ALTER TABLE core_site DROP COLUMN beds")


def _rewrite_as_jsonb_links(table: str, pk: str, upto: int) -> int:
    """Turn the links of `table` up to link `upto` into what the chain wrote before the
    record-text format (row hash over the record's jsonb text, fmt and ncols empty) and re-chain
    every link after them, as a database that kept its older links has them."""
    with connection.cursor() as cursor:
        cursor.execute("SET timezone = 'UTC'; SET extra_float_digits = 1")
        cursor.execute(
            f"UPDATE audit_chainlink l SET fmt = NULL, ncols = NULL, "
            f"row_hash = edc_audit_row_hash(%s, l.row_id, to_jsonb(t)) FROM {table} t "
            f"WHERE l.table_name = %s AND l.row_id = (t.{pk})::text AND l.id <= %s", [table, table, upto])
        rewritten = cursor.rowcount
        cursor.execute("""DO $$ DECLARE r record; prev text := ''; BEGIN
            FOR r IN SELECT id, row_hash FROM audit_chainlink ORDER BY id LOOP
                UPDATE audit_chainlink SET prev_hash = prev,
                       hash = encode(sha256(convert_to(prev || ':' || r.id || ':' || r.row_hash, 'UTF8')), 'hex')
                WHERE id = r.id RETURNING hash INTO prev;
            END LOOP; END $$""")
        cursor.execute("RESET timezone; RESET extra_float_digits")
    return rewritten


def test_links_of_the_jsonb_format_written_before_still_verify_beside_record_text_links(seeded):
    """Links written before the record-text hash (fmt null: jsonb text) verify in their own
    format beside the new ones, and an edit of a record of either format is named."""
    from audit.models import ChainLink
    from core.models import Subject

    links = ChainLink.objects.filter(table_name="core_subjectevent").order_by("id")
    assert {link.fmt for link in links} == {2}
    middle = links[len(links) // 2]
    assert _rewrite_as_jsonb_links("core_subjectevent", "pgh_id", middle.id) >= 2
    old, new = links.filter(fmt__isnull=True).first(), links.filter(fmt=2).last()
    assert old is not None and new is not None
    result = verify_chain()
    assert result.ok, result.problems
    # a new record written now is linked in the record-text format and verifies
    subject = Subject.objects.order_by("pk").first()
    subject.save()
    assert ChainLink.objects.order_by("-id").filter(table_name="core_subjectevent").first().fmt == 2
    assert verify_chain().ok
    trigger = _append_only_trigger("core_subjectevent")
    for link in (new, old):  # the newer edit first: the earliest broken link is named
        _owner_sql(f"ALTER TABLE core_subjectevent DISABLE TRIGGER {trigger}",
                   f"UPDATE core_subjectevent SET number = 'FORGED' WHERE pgh_id = {link.row_id}",
                   f"ALTER TABLE core_subjectevent ENABLE TRIGGER {trigger}")
        result = verify_chain()
        assert result.first_broken.startswith(f"link {link.id} (core_subjectevent id={link.row_id})"), result.problems
        assert "changed after it was written" in result.first_broken


def test_a_record_hash_is_over_the_record_text_whatever_the_session_date_style(seeded):
    """The record text depends on the session's DateStyle, IntervalStyle and time zone: the
    chain pins them, so a record written by a session with other settings verifies."""
    import psycopg

    from audit.models import ChainLink

    params = {k: v for k, v in connection.get_connection_params().items()
              if k not in ("cursor_factory", "context", "prepare_threshold", "server_side_binding")}
    before = ChainLink.objects.count()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SET datestyle = 'German, DMY'; SET timezone = 'Asia/Shanghai'; "
                      "SET intervalstyle = 'sql_standard'; SET extra_float_digits = 0")
        other.execute("UPDATE core_site SET name = name || ' (renamed)' WHERE id = (SELECT min(id) FROM core_site)")
    assert ChainLink.objects.count() > before  # the change was linked (event and context)
    result = verify_chain(workers=1)
    assert result.ok, result.problems
    assert verify_chain(workers=2).ok
