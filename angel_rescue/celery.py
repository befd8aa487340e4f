import os

from celery import Celery

# Remembered so that `python -m angel_rescue.embedded run -- pytest` (which imports this
# package first) does not hand the production settings module to the command it runs.
SETTINGS_DEFAULTED = "DJANGO_SETTINGS_MODULE" not in os.environ
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.settings")

app = Celery("angel_rescue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_schedule():
    """Every periodic task of the system, declared in one place."""
    from celery.schedules import crontab
    from django.conf import settings

    return {
        "send-due-reminders": {
            "task": "followup.tasks.send_due_reminders",
            "schedule": float(settings.EDC_REMINDER_INTERVAL_SECONDS),
        },
        # One backup set per day (backups.services: exactly once per slot, whatever the beats).
        "backup-database": {
            "task": "backups.tasks.backup_scheduled",
            "schedule": crontab(minute=0, hour=settings.EDC_BACKUP_HOUR_UTC),
        },
        # Alerts the administrators when no backup has succeeded for EDC_BACKUP_MAX_AGE_HOURS.
        "check-backups": {
            "task": "backups.tasks.backups_check",
            "schedule": float(settings.EDC_BACKUP_CHECK_INTERVAL_SECONDS),
        },
        "adjudication-cases-refresh": {
            "task": "adjudication.tasks.adjudication_cases_refresh",
            "schedule": 600.0,
        },
    }


@app.on_after_finalize.connect
def _setup_periodic_tasks(sender, **kwargs):
    sender.conf.beat_schedule = _beat_schedule()
