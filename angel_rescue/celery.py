import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.settings")

app = Celery("angel_rescue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_schedule():
    """Every periodic task of the system, declared in one place."""
    from django.conf import settings

    return {
        "send-due-reminders": {
            "task": "followup.tasks.send_due_reminders",
            "schedule": float(settings.EDC_REMINDER_INTERVAL_SECONDS),
        },
        "adjudication-cases-refresh": {
            "task": "adjudication.tasks.adjudication_cases_refresh",
            "schedule": 600.0,
        },
    }


@app.on_after_finalize.connect
def _setup_periodic_tasks(sender, **kwargs):
    sender.conf.beat_schedule = _beat_schedule()
