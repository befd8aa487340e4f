import pytest
from django.core import mail
from django.utils import timezone

from core.services import notification_create, notification_emails_send
from randomization.exceptions import BreachReportError, NotPermitted
from randomization.services import blinding_breach_report

pytestmark = pytest.mark.django_db


def test_breach_for_a_site_the_reporter_does_not_belong_to_is_refused(personas, sites):
    with pytest.raises(NotPermitted, match="site 001"):
        blinding_breach_report(user=personas["coord002"], site=sites["001"], occurred_at=timezone.now(),
                               route="told", description="x", unblinded_person="Dr A")


def test_breach_needs_who_what_and_a_past_time(personas, sites):
    base = {"user": personas["coord001"], "site": sites["001"], "route": "told"}
    with pytest.raises(BreachReportError, match="Who"):
        blinding_breach_report(**base, occurred_at=timezone.now(), description="x")
    with pytest.raises(BreachReportError, match="What happened"):
        blinding_breach_report(**base, occurred_at=timezone.now(), description=" ", unblinded_person="Dr A")
    with pytest.raises(BreachReportError, match="future"):
        blinding_breach_report(**base, occurred_at=timezone.now() + timezone.timedelta(hours=1),
                               description="x", unblinded_person="Dr A")


def test_breach_list_shows_own_reports_and_site_reports_to_readers(client_for, personas, sites):
    breach = blinding_breach_report(user=personas["assessor001"], site=sites["001"], occurred_at=timezone.now(),
                                    route="overheard", description="Heard in the lift.", unblinded_person="assessor")
    def rows(name):
        response = client_for(name).get("/randomization/breaches/")
        assert response.status_code == 200
        return response.content.decode().split("<tbody>")[1]

    for name in ("assessor001", "monitor", "coord001", "datamanager"):  # reporter, and readers of site 001
        assert "Overheard a conversation" in rows(name), name
    assert "No report." in rows("coord002")  # another site's staff do not see it
    assert breach.pk


def test_notification_is_created_and_emailed_once_per_key(personas, django_capture_on_commit_callbacks):
    statistician = personas["statistician"]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = notification_create(users=[statistician], key="k1", title="T", body="B")
        again = notification_create(users=[statistician], key="k1", title="T", body="B")
    assert len(first) == 1 and [n.pk for n in again] == [first[0].pk]  # one row per recipient and key
    assert len(mail.outbox) == 1  # both commits asked; the claim let one e-mail through
    assert notification_emails_send(ids=[first[0].pk]) == 0  # already sent
    assert len(mail.outbox) == 1
