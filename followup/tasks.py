"""Celery tasks of the follow-up app: thin, safe to run twice (STYLE.md)."""

from celery import shared_task

from followup import reminders


# acks_late: a worker killed mid-task leaves the message unacknowledged, so the broker hands
# it to another worker; the claims in the database make the re-run send nothing twice.
# No countdown/ETA is used, so no message waits longer than the broker's visibility timeout.
@shared_task(name="followup.tasks.send_due_reminders", acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def send_due_reminders() -> dict:
    from celery import current_task

    task_id = getattr(getattr(current_task, "request", None), "id", None) or ""
    return reminders.send_due_reminders(task_id=task_id)
