"""A real Celery worker on a real Redis, killed with SIGKILL in the middle of
send_due_reminders and restarted: every reminder still arrives exactly once."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from core.models import EmailState, Notification
from followup.models import Reminder, ReminderState
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SUBJECTS = 24


def sent_count() -> int:
    return Reminder.objects.filter(state=ReminderState.SENT).count()


def emails_in(folder: Path) -> list[str]:
    subjects = []
    for f in folder.glob("*.log"):
        subjects += [line for line in f.read_text().splitlines() if line.startswith("Subject: [ANGEL-RESCUE]")]
    return subjects


def test_worker_killed_mid_task_and_restarted_sends_each_reminder_exactly_once(make_subject, tmp_path,
                                                                               celery_harness):
    now = timezone.now()
    subjects = [make_subject(now - timedelta(hours=49, minutes=i)) for i in range(SUBJECTS)]  # V3 due
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    harness = celery_harness
    env = harness.env("tests.followup.worker_settings", CELERY_RESULT_BACKEND=harness.broker,
                      CELERY_VISIBILITY_TIMEOUT="3", EDC_REMINDER_BATCH_SIZE="1",
                      EDC_REMINDER_BATCH_PAUSE_SECONDS="0.25", EDC_TEST_MAIL_DIR=str(mail_dir))
    first = harness.start_worker(env)
    killed_task = harness.client.send_task("followup.tasks.send_due_reminders")
    # Kill -9 once some, but not all, reminders are out: the task is mid-run.
    wait_for(lambda: sent_count() >= 3, 60, "the first reminders")
    harness.kill(first)
    stopped_at = sent_count()
    assert 0 < stopped_at < SUBJECTS, "the kill did not land mid-task"
    # Restart; the unacknowledged message comes back (acks_late); beat also fires again.
    harness.start_worker(env)
    harness.client.send_task("followup.tasks.send_due_reminders")
    wait_for(lambda: sent_count() == SUBJECTS and not Notification.objects.filter(
        email_state=EmailState.QUEUED).exists(), 90, "every reminder")
    # The killed task's message was not acknowledged (acks_late): the broker redelivers it
    # after the visibility timeout and it runs to the end, sending nothing twice.
    harness.wait_for_log(f"{killed_task.id}] succeeded", 60, "the redelivered task")
    # Exactly once: one sent claim per subject, one notification per (reminder, user).
    assert sent_count() == SUBJECTS
    assert Reminder.objects.filter(state=ReminderState.SENT).values("subject").distinct().count() == SUBJECTS
    pairs = list(Notification.objects.values_list("key", "user_id"))
    assert len(pairs) == len(set(pairs)) == SUBJECTS
    emails = emails_in(mail_dir)
    assert len(emails) == len(set(emails)), "an e-mail was sent twice"
    unsure = Notification.objects.filter(email_state__in=[EmailState.SENDING, EmailState.FAILED]).count()
    # Every reminder's e-mail went out once, except at most the one in flight at the kill,
    # which is never resent (reported instead).
    assert len(emails) + unsure == SUBJECTS and unsure <= 1
    assert {s.number for s in subjects} == {n.subject.number for n in Notification.objects.select_related("subject")}
