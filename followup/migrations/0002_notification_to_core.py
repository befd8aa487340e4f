"""Move follow-up's notifications (visit reminders, query notices) into core.Notification,
the one inbox, then drop the old table. A reminder's notice gets key "reminder:<id>", so
UNIQUE (user, key) keeps it once per (reminder, user); query notices have no key."""

from django.db import migrations


def copy_to_core(apps, schema_editor):
    old = apps.get_model("followup", "Notification")._meta.db_table
    new = apps.get_model("core", "Notification")._meta.db_table
    q = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(new)} (user_id, key, subject_id, created_at, title, body, url, read_at, "
            "email_state, email_sent_at) "
            "SELECT user_id, CASE WHEN reminder_id IS NULL THEN '' ELSE 'reminder:' || reminder_id END, "
            "subject_id, created_at, title, body, url, read_at, email_state, email_sent_at "
            f"FROM {q(old)} ORDER BY id ON CONFLICT DO NOTHING")


def copy_back(apps, schema_editor):
    old = apps.get_model("followup", "Notification")._meta.db_table
    new = apps.get_model("core", "Notification")._meta.db_table
    reminder = apps.get_model("followup", "Reminder")._meta.db_table
    q = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(old)} (user_id, reminder_id, subject_id, created_at, title, body, url, read_at, "
            "email_state, email_sent_at) "
            "SELECT n.user_id, r.id, n.subject_id, n.created_at, left(n.title, 200), n.body, left(n.url, 200), "
            "n.read_at, n.email_state, n.email_sent_at "
            f"FROM {q(new)} n LEFT JOIN {q(reminder)} r ON n.key = 'reminder:' || r.id "
            "WHERE n.key = '' OR r.id IS NOT NULL ORDER BY n.id")


class Migration(migrations.Migration):

    dependencies = [
        ("followup", "0001_initial"),
        ("core", "0002_notification_inbox"),
    ]

    operations = [
        migrations.RunPython(copy_to_core, copy_back),
        migrations.DeleteModel(
            name="Notification",
        ),
    ]
