"""Celery tasks of central adjudication (thin: call a service, safe to run twice)."""

from celery import shared_task


@shared_task(acks_late=True)
def adjudication_cases_refresh() -> int:
    """Periodic: cases for material and for ICHs reported on the 48-hour form."""
    from adjudication.services import cases_refresh_all

    return cases_refresh_all()
