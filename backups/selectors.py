"""Reads of the backup history (administrators only). No per-table row counts leave here: the
administrator is blinded, and a count of an arm-specific form's rows would reveal the split."""

from backups.models import BackupSet, BackupState, RestoreDrill
from core.access import require
from core.roles import Action

HISTORY_ROWS = 200


def backup_history(*, user) -> list[BackupSet]:
    require(user, Action.ADMINISTER)
    return list(BackupSet.objects.defer("manifest").select_related("requested_by")[:HISTORY_ROWS])


def last_successful_backup(*, user) -> BackupSet | None:
    require(user, Action.ADMINISTER)
    return BackupSet.objects.defer("manifest").filter(state=BackupState.SUCCEEDED).order_by("-finished_at").first()


def last_successful_drill(*, user) -> RestoreDrill | None:
    require(user, Action.ADMINISTER)
    return RestoreDrill.objects.filter(ok=True).order_by("-at").first()


def recent_drills(*, user, limit: int = 10) -> list[RestoreDrill]:
    require(user, Action.ADMINISTER)
    return list(RestoreDrill.objects.order_by("-at")[:limit])
