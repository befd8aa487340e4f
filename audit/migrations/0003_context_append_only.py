from django.db import migrations

# pghistory's context rows (who/where/why shared by the events of one request) are updated
# as a request goes on, so only DELETE is refused on them; event tables refuse both
# UPDATE and DELETE through their own append_only triggers.
SQL = """
CREATE OR REPLACE FUNCTION edc_refuse_delete() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'Audit records cannot be deleted (table %)', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS edc_context_no_delete ON pghistory_context;
CREATE TRIGGER edc_context_no_delete BEFORE DELETE ON pghistory_context
    FOR EACH ROW EXECUTE FUNCTION edc_refuse_delete();
"""
REVERSE = """
DROP TRIGGER IF EXISTS edc_context_no_delete ON pghistory_context;
DROP FUNCTION IF EXISTS edc_refuse_delete();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_initial"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]
    operations = [migrations.RunSQL(SQL, REVERSE)]
