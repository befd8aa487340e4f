"""Celery tasks of the exports app: thin, take ids, safe to run twice (SPEC; STYLE.md)."""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def export_run_task(export_id: str) -> None:
    """Write one export. A redelivered message (worker lost, acks_late) finds the export
    claimed or done and does nothing; see exports.services.export_claim."""
    from exports.services import export_run

    export_run(export_id=export_id)
