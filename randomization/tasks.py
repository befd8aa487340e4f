"""Celery tasks: thin, take ids, call a service, safe to run twice (each e-mail is claimed
`queued → sending` before it is sent; the notices' own e-mails: core.tasks)."""

from celery import shared_task


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_randomization_confirmation(allocation_id: int) -> int:
    from randomization.services.notices import allocation_confirmation_send

    return allocation_confirmation_send(allocation_id=allocation_id)


@shared_task(bind=True)
def simulate_randomization(self, run_id: int) -> str:
    """The statistician's simulation (services.simulation_execute): progress on its row."""
    from randomization.services.simulations import simulation_execute

    return simulation_execute(run_id=run_id, task_id=self.request.id or "")
