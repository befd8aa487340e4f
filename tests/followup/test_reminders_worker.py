"""A real Celery worker on a real Redis, killed with SIGKILL in the middle of
send_due_reminders and restarted: every reminder still arrives exactly once."""

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.models import EmailState, Notification
from followup.models import Reminder, ReminderState

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SUBJECTS = 24


def database_url_of_test_db() -> str:
    """The URL of the test database (same server, the test database's name)."""
    parts = urllib.parse.urlsplit(settings.DATABASE_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def start_worker(env, log):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "angel_rescue", "worker", "--pool=solo", "-l", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"edc-test-{time.time_ns()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def sent_count() -> int:
    return Reminder.objects.filter(state=ReminderState.SENT).count()


def emails_in(folder: Path) -> list[str]:
    subjects = []
    for f in folder.glob("*.log"):
        subjects += [line for line in f.read_text().splitlines() if line.startswith("Subject: [ANGEL-RESCUE]")]
    return subjects


def test_worker_killed_mid_task_and_restarted_sends_each_reminder_exactly_once(make_subject, tmp_path):
    from angel_rescue.embedded import redis_start

    now = timezone.now()
    subjects = [make_subject(now - timedelta(hours=49, minutes=i)) for i in range(SUBJECTS)]  # V3 due
    socket = tmp_path / "redis.sock"
    redis = redis_start(socket_path=socket, datadir=tmp_path)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    broker = f"redis+socket://{socket}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.followup.worker_settings",
           "DATABASE_URL": database_url_of_test_db(), "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker,
           "CELERY_TASK_ALWAYS_EAGER": "false", "CELERY_VISIBILITY_TIMEOUT": "3",
           "EDC_REMINDER_BATCH_SIZE": "1", "EDC_REMINDER_BATCH_PAUSE_SECONDS": "0.25",
           "EDC_TEST_MAIL_DIR": str(mail_dir)}
    from celery import Celery

    # set_as_current=False: this client only sends the test's tasks; the project's app stays
    # the current one, so later tests' .delay() calls do not go to this (soon dead) broker.
    client = Celery(broker=broker, set_as_current=False)
    client.conf.broker_transport_options = {"visibility_timeout": 3}
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    workers = []
    try:
        workers.append(start_worker(env, log))
        killed_task = client.send_task("followup.tasks.send_due_reminders")
        # Kill -9 once some, but not all, reminders are out: the task is mid-run.
        wait_for(lambda: sent_count() >= 3, 60, "the first reminders")
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(10)
        stopped_at = sent_count()
        assert 0 < stopped_at < SUBJECTS, "the kill did not land mid-task"
        # Restart; the unacknowledged message comes back (acks_late); beat also fires again.
        workers.append(start_worker(env, log))
        client.send_task("followup.tasks.send_due_reminders")
        wait_for(lambda: sent_count() == SUBJECTS and not Notification.objects.filter(
            email_state=EmailState.QUEUED).exists(), 90, "every reminder")
        # The killed task's message was not acknowledged (acks_late): the broker redelivers it
        # after the visibility timeout and it runs to the end, sending nothing twice.
        log.flush()
        wait_for(lambda: f"{killed_task.id}] succeeded" in (tmp_path / "worker.log").read_text(), 60,
                 "the redelivered task")
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
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait(10)
        client.close()
        redis.terminate()
        redis.wait(10)
        log.close()
        # Let PostgreSQL notice the killed workers' sessions before the test database goes.
        with connection.cursor() as cursor:
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid()")
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.1)
        connection.close()
