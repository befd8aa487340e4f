"""Settings for the real Celery worker started by test_reminders_worker.py: the test settings,
but a real broker (CELERY_BROKER_URL from the environment) and e-mails written to files so the
test can count them across worker restarts."""

import os

from angel_rescue.test_settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["EDC_TEST_MAIL_DIR"]
# Short visibility timeout and restore interval so that the message of the killed worker is
# redelivered within seconds (production keeps an hour: no task uses an ETA or countdown).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3, "unacked_restore_interval": 1}
