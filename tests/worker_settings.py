"""Settings of a real Celery worker started by a test (tests/workers.py): the test settings
with the broker of the environment (CELERY_BROKER_URL) and tasks not eager."""

from angel_rescue.test_settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
# Redeliver a killed worker's message within seconds (production keeps an hour: no task uses
# an ETA or countdown).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3, "unacked_restore_interval": 1}
