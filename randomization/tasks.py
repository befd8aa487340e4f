"""Celery tasks: thin, take ids, call a service, safe to run twice (each e-mail is claimed
with an UPDATE … WHERE emailed_at IS NULL before it is sent)."""

from celery import shared_task


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_randomization_confirmation(allocation_id: int) -> int:
    from randomization.services import allocation_confirmation_send

    return allocation_confirmation_send(allocation_id=allocation_id)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notification_emails(notification_ids: list[int]) -> int:
    from randomization.services import notification_emails_send

    return notification_emails_send(notification_ids=notification_ids)
