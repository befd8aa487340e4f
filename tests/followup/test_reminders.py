"""Reminders of SPEC §7: at their moment and not before, exactly once, never for entered
visits or subjects off study, to the right people."""

import threading
import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from core.models import EmailState, Notification
from followup import services
from followup.models import Reminder, ReminderState
from followup.schedule import reminder_points
from followup.tasks import send_due_reminders

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)  # late evening: day 0 is 10 March locally

pytestmark = pytest.mark.django_db(transaction=True)



def notes_of(subject, point):
    """The in-app notices of one reminder point (of one subject, or of every subject)."""
    reminders = Reminder.objects.filter(key=point)
    if subject is not None:
        reminders = reminders.filter(subject=subject)
    return Notification.objects.filter(key__in=[f"reminder:{pk}" for pk in reminders.values_list("pk", flat=True)])

def run_at(moment):
    with time_machine.travel(moment, tick=False):
        return send_due_reminders()


def sent_keys(subject):
    return set(Reminder.objects.filter(subject=subject, state=ReminderState.SENT).values_list("key", flat=True))


POINTS = [(p.key, p.at) for p in reminder_points(T0, SHANGHAI)]


@pytest.mark.parametrize("key,at", POINTS, ids=[k for k, _ in POINTS])
def test_each_reminder_fires_at_its_moment_and_not_before(make_subject, key, at):
    subject = make_subject(T0)
    run_at(at - timedelta(seconds=1))
    assert key not in sent_keys(subject)
    run_at(at)
    assert key in sent_keys(subject)
    note = notes_of(subject, key).first()
    assert note is not None and subject.number in note.title


def test_site_zone_decides_the_day_of_a_day_reminder(make_subject):
    # Same UTC instant of randomization, Berlin site: day 83 starts at 00:00 Berlin time.
    subject = make_subject(T0, site="003")
    opens = [p.at for p in reminder_points(T0, BERLIN) if p.key == "V5_open"][0]
    assert opens.astimezone(BERLIN).hour == 0 and opens.astimezone(SHANGHAI).hour in (6, 7)
    run_at(opens - timedelta(minutes=1))
    assert "V5_open" not in sent_keys(subject)
    run_at(opens)
    assert "V5_open" in sent_keys(subject)


def test_recipients_coordinators_assessors_for_day90_and_monitor_on_escalation(make_subject, personas):
    make_subject(T0)
    at = dict(POINTS)
    run_at(at["V3_open"])
    users = set(notes_of(None, "V3_open").values_list("user__username", flat=True))
    assert users == {"coord001"}
    run_at(at["V3_overdue"])
    users = set(notes_of(None, "V3_overdue").values_list("user__username", flat=True))
    assert users == {"coord001", "monitor"}
    run_at(at["V5_open"])
    users = set(notes_of(None, "V5_open").values_list("user__username", flat=True))
    assert users == {"coord001", "assessor001"}
    run_at(at["V5_closing"])
    users = set(notes_of(None, "V5_closing").values_list("user__username", flat=True))
    assert users == {"coord001", "assessor001", "monitor"}
    assert "coord002" not in set(Notification.objects.values_list("user__username", flat=True))
    # E-mail went out after commit, once per notification.
    assert len(mail.outbox) == Notification.objects.count()
    assert all(n.email_state == EmailState.SENT for n in Notification.objects.all())


def test_one_digest_email_per_person_for_many_reminders(make_subject):
    subjects = [make_subject(T0 + timedelta(minutes=i)) for i in range(3)]
    run_at(dict(POINTS)["V3_due"] + timedelta(hours=1))
    assert Notification.objects.count() == 3
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "[ANGEL-RESCUE] 3 visit reminders"
    assert all(s.number in mail.outbox[0].body for s in subjects)


def test_reminder_times_are_shown_in_the_site_zone(make_subject):
    subject = make_subject(T0)
    run_at(dict(POINTS)["V3_open"])
    note = notes_of(subject, "V3_open").get()
    assert "Asia/Shanghai" in note.body and "2026-03-12 23:40" in note.body  # window closes T0 + 60 h


def test_running_twice_sends_nothing_twice(make_subject):
    subject = make_subject(T0)
    at = dict(POINTS)["V3_due"]
    run_at(at)
    first = Notification.objects.count()
    run_at(at)
    run_at(at + timedelta(minutes=5))
    assert Notification.objects.count() == first
    assert len(mail.outbox) == first
    assert sent_keys(subject) == {"V3_due"}  # V3_open superseded by the later due point


def test_two_concurrent_runs_send_each_reminder_exactly_once(make_subject, settings):
    settings.EDC_REMINDER_BATCH_SIZE = 3
    subjects = [make_subject(T0 + timedelta(minutes=i)) for i in range(20)]
    moment = dict(POINTS)["V3_due"] + timedelta(hours=1)
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait()
            run_at(moment)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Reminder.objects.filter(state=ReminderState.SENT).count() == len(subjects)
    per_reminder = Notification.objects.values_list("key", "user_id")
    assert len(per_reminder) == len(set(per_reminder)) == len(subjects)  # coord001 once each
    # E-mails are per person per batch (digests): every subject's reminder is in exactly one.
    mentioned = [s.number for m in mail.outbox for s in subjects if f"for {s.number} " in m.body]
    assert sorted(mentioned) == sorted(s.number for s in subjects)


def test_no_reminder_after_the_visit_is_entered(make_subject, personas):
    subject = make_subject(T0)
    at = dict(POINTS)
    run_at(at["V3_open"])
    with time_machine.travel(at["V3_open"] + timedelta(hours=2), tick=False):
        services.visit48h_save(subject=subject, user=personas["coord001"], data={"new_ich": False},
                               version=None)
    run_at(at["V3_overdue"])
    assert sent_keys(subject) == {"V3_open"}
    assert set(Reminder.objects.filter(subject=subject, key__in=["V3_due", "V3_overdue"])
               .values_list("state", flat=True)) == {ReminderState.CANCELLED}


def test_no_reminder_after_the_subject_died(make_subject, personas):
    subject = make_subject(T0)
    at = dict(POINTS)
    with time_machine.travel(T0 + timedelta(days=10), tick=False):
        services.death_record(subject=subject, user=personas["coord001"],
                              data={"died_on": (T0 + timedelta(days=9)).date(), "cause": "ich"})
    for key in ("V5_upcoming", "V5_open", "V5_target", "V5_closing", "V5_missed"):
        run_at(at[key])
    assert not sent_keys(subject) & {"V5_upcoming", "V5_open", "V5_target", "V5_closing", "V5_missed"}


def test_no_reminder_for_a_withdrawn_subject(make_subject, personas):
    subject = make_subject(T0)
    with time_machine.travel(T0 + timedelta(hours=30), tick=False):
        services.study_exit_record(subject=subject, user=personas["coord001"],
                                   data={"kind": "withdrawn", "exit_on": (T0 + timedelta(hours=30)).date()})
    run_at(dict(POINTS)["V3_due"])
    assert not sent_keys(subject)


def test_in_app_list_and_unread_count(client_for, make_subject):
    make_subject(T0)
    run_at(dict(POINTS)["V3_open"])
    client = client_for("coord001")
    page = client.get("/subjects/notifications/").content.decode()
    assert 'data-testid="unread-count">1<' in page and "48-hour visit window opens" in page
    client.post("/subjects/notifications/read/")
    assert 'data-testid="unread-count"' not in client.get("/subjects/notifications/").content.decode()
