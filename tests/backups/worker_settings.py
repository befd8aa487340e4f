"""Settings of the real Celery worker started by test_worker.py: the test settings with a real
broker; backup folders and pg_dump come from the environment (EDC_BACKUP_DIR, EDC_PG_BIN_DIR)."""

from angel_rescue.test_settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
# Redeliver the killed worker's message within seconds (production keeps an hour).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3, "unacked_restore_interval": 1}
