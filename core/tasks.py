"""Celery tasks of the notification inbox: thin, take ids, call a service, safe to run twice
(each e-mail is claimed `queued → sending` before it is sent)."""

from celery import shared_task


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notification_emails(notification_ids: list[int]) -> int:
    from core.services import notification_emails_send

    return notification_emails_send(ids=notification_ids)
