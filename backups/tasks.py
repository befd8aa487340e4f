"""Celery tasks of the backups app: thin, safe to run twice (the slot claim decides)."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


def _task_id() -> str:
    from celery import current_task

    return getattr(getattr(current_task, "request", None), "id", None) or ""


# acks_late + reject_on_worker_lost: a worker killed mid-backup leaves the message
# unacknowledged; the broker redelivers it and the redelivered run takes the set over.
@shared_task(name="backups.tasks.backup_scheduled", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def backup_scheduled(slot: str | None = None) -> str:
    from backups import services
    from backups.exceptions import BackupError

    try:
        backup_set = services.backup_scheduled(slot=slot, task_id=_task_id())
    except BackupError as exc:  # already recorded and alerted; do not redeliver a failure
        log.error("scheduled backup failed: %s", exc)
        return "failed"
    return backup_set.set_id if backup_set else "skipped"


@shared_task(name="backups.tasks.backup_manual", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def backup_manual(slot: str, user_id: int | None = None) -> str:
    from backups import services
    from backups.exceptions import BackupError
    from core.models import User

    by = User.objects.filter(pk=user_id).first() if user_id else None
    try:
        backup_set = services.backup_manual(slot=slot, by=by, task_id=_task_id())
    except BackupError as exc:
        log.error("manual backup failed: %s", exc)
        return "failed"
    return backup_set.set_id if backup_set else "skipped"


@shared_task(name="backups.tasks.backups_check", ignore_result=True)
def backups_check() -> dict:
    from backups import services

    return services.backups_check()
