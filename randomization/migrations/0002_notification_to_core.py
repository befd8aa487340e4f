"""Move the randomization notices into core.Notification, the one inbox, then drop the old
table. Keys are kept (UNIQUE (user, key) as before); a notice already e-mailed becomes `sent`,
one never e-mailed `none` — old notices are not e-mailed after the upgrade."""

from django.db import migrations


def copy_to_core(apps, schema_editor):
    old = apps.get_model("randomization", "Notification")._meta.db_table
    new = apps.get_model("core", "Notification")._meta.db_table
    q = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(new)} (user_id, key, subject_id, created_at, title, body, url, read_at, "
            "email_state, email_sent_at) "
            "SELECT recipient_id, key, NULL, created_at, title, body, url, read_at, "
            "CASE WHEN emailed_at IS NULL THEN 'none' ELSE 'sent' END, emailed_at "
            f"FROM {q(old)} ORDER BY id ON CONFLICT DO NOTHING")


def copy_back(apps, schema_editor):
    old = apps.get_model("randomization", "Notification")._meta.db_table
    new = apps.get_model("core", "Notification")._meta.db_table
    q = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(old)} (recipient_id, key, title, body, url, created_at, read_at, emailed_at) "
            "SELECT user_id, key, title, body, url, created_at, read_at, "
            "CASE WHEN email_state IN ('sending', 'sent', 'failed') THEN coalesce(email_sent_at, created_at) END "
            f"FROM {q(new)} WHERE key <> '' AND key NOT LIKE 'reminder:%' ORDER BY id "
            "ON CONFLICT DO NOTHING")


class Migration(migrations.Migration):

    dependencies = [
        ("randomization", "0001_initial"),
        ("core", "0002_notification_inbox"),
    ]

    operations = [
        migrations.RunPython(copy_to_core, copy_back),
        migrations.DeleteModel(
            name="Notification",
        ),
    ]
