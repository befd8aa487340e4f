"""core.Notification: exactly-once per (user, key), the e-mail claim, and the data migration
that merged follow-up's and randomization's notification tables into it."""

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from core.models import EmailState, Notification
from core.services import notification_create, notification_emails_send, notification_mark_read


@pytest.mark.django_db
def test_once_per_user_and_key_but_blank_keys_repeat(personas):
    coord, inv = personas["coord001"], personas["inv001"]
    first = notification_create(users=[coord, inv], key="breach:1", title="T", email=False)
    again = notification_create(users=[coord, inv], key="breach:1", title="T (again)", email=False)
    assert sorted(n.pk for n in first) == sorted(n.pk for n in again)
    assert Notification.objects.filter(key="breach:1").count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses a second row
        Notification.objects.create(user=coord, key="breach:1", title="dup")
    notification_create(users=[coord], title="Query 1", email=False)
    notification_create(users=[coord], title="Query 1 re-opened", email=False)
    assert Notification.objects.filter(user=coord, key="").count() == 2  # no key: no once-only rule
    assert all(n.email_state == EmailState.NONE for n in Notification.objects.all())  # email=False


@pytest.mark.django_db
def test_email_is_claimed_once_and_mark_read_is_per_user(personas):
    coord, inv = personas["coord001"], personas["inv001"]
    mail.outbox.clear()
    notes = notification_create(users=[coord, inv], key="k", title="Hello", body="B", url="/x/", email=False)
    Notification.objects.filter(pk__in=[n.pk for n in notes]).update(email_state=EmailState.QUEUED)
    assert notification_emails_send() == 2
    assert notification_emails_send() == 0  # claimed and sent: never again
    assert len(mail.outbox) == 2 and mail.outbox[0].subject == "[ANGEL-RESCUE] Hello"
    assert set(Notification.objects.values_list("email_state", flat=True)) == {EmailState.SENT}
    assert notification_mark_read(user=coord) == 1
    assert Notification.objects.filter(user=inv, read_at__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_migration_copies_both_old_tables_into_the_inbox(personas, sites):
    old_state = [("core", "0002_notification_inbox"), ("followup", "0001_initial"),
                 ("randomization", "0001_initial")]
    new_state = [("core", "0002_notification_inbox"), ("followup", "0002_notification_to_core"),
                 ("randomization", "0002_notification_to_core")]
    executor = MigrationExecutor(connection)
    executor.migrate(old_state)
    try:
        apps = executor.loader.project_state(old_state).apps
        OldReminderNote = apps.get_model("followup", "Notification")
        OldNotice = apps.get_model("randomization", "Notification")
        Reminder = apps.get_model("followup", "Reminder")
        Subject = apps.get_model("core", "Subject")
        coord, stat = personas["coord001"], personas["statistician"]
        subject = Subject.objects.create(number="001-901", site_id=sites["001"].pk,
                                         randomized_at="2026-03-10T00:00Z")
        reminder = Reminder.objects.create(subject=subject, key="V3_open", visit="V3", due_at="2026-03-11T00:00Z")
        OldReminderNote.objects.create(user_id=coord.pk, reminder=reminder, subject=subject, title="Reminder",
                                       email_state="sent", email_sent_at="2026-03-11T00:01Z")
        OldReminderNote.objects.create(user_id=coord.pk, subject=subject, title="Query", url="/data/queries/1/",
                                       email_state="queued", read_at="2026-03-12T00:00Z")
        OldNotice.objects.create(recipient_id=stat.pk, key="breach:7", title="Breach", body="b",
                                 url="/randomization/breaches/", emailed_at="2026-03-11T00:02Z")
        OldNotice.objects.create(recipient_id=stat.pk, key="stratum-low:001-anterior:10:low", title="Low")
        executor = MigrationExecutor(connection)
        executor.migrate(new_state)
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
    rows = {n.title: n for n in Notification.objects.all()}
    assert set(rows) == {"Reminder", "Query", "Breach", "Low"}
    assert rows["Reminder"].key == f"reminder:{reminder.pk}" and rows["Reminder"].user_id == coord.pk
    assert rows["Reminder"].email_state == "sent" and rows["Reminder"].subject_id == subject.pk
    assert rows["Query"].key == "" and rows["Query"].read_at is not None and rows["Query"].email_state == "queued"
    assert rows["Breach"].user_id == stat.pk and rows["Breach"].key == "breach:7"
    assert rows["Breach"].email_state == "sent" and rows["Breach"].email_sent_at is not None
    assert rows["Low"].email_state == "none"  # never e-mailed before: not e-mailed after the upgrade
    with pytest.raises(IntegrityError), transaction.atomic():  # (reminder, user) still once only
        Notification.objects.create(user=coord, key=f"reminder:{reminder.pk}", title="again")
