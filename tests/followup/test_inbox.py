"""The one inbox: visit reminders, query notices and randomization notices are rows of one
model (core.Notification), listed on one page, counted by one badge, marked read together."""

import pytest
import time_machine

from core.models import Notification
from followup.tasks import send_due_reminders
from tests.followup.test_reminders import POINTS, T0

pytestmark = pytest.mark.django_db(transaction=True)

ARM_WORDS = ("STENTING", "CONTINUED_MT", "Stenting", "Continued thrombectomy")


def test_one_inbox_lists_reminder_query_and_randomization_notices(make_subject, personas, sites, client_for):
    from core.roles import Role
    from datamanagement import services as dm
    from randomization.models import Allocation
    from randomization.services import allocation_confirmation_send
    from tests.conftest import make_user
    from tests.factories import make_screening

    make_user("inv001", Role.COORDINATOR, sites["001"])  # inv001 also gets the site's visit reminders
    subject = make_subject(T0)
    allocation = Allocation.objects.get(subject=subject)
    allocation_confirmation_send(allocation_id=allocation.pk)  # randomization notice
    with time_machine.travel(dict(POINTS)["V3_open"], tick=False):
        send_due_reminders()  # visit reminder
    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    dm.query_open(user=personas["monitor"], instance=screening, field_name="aspects", text="ASPECTS 8 or 7?")

    keys = list(Notification.objects.filter(user=personas["inv001"]).values_list("key", flat=True))
    assert sorted(k.split(":")[0] for k in keys) == ["", "randomized", "reminder"]
    client = client_for("inv001")
    page = client.get("/subjects/notifications/").content.decode()
    assert f"Subject {subject.number} randomized at site 001" in page
    assert "48-hour visit window opens" in page
    assert "Query on" in page
    assert 'data-testid="unread-count">3<' in page
    assert not any(w in page for w in ARM_WORDS)  # the in-app notice never carries the arm
    title = page.split("<title>")[1].split("</title>")[0]
    assert "<" not in title and "Notifications" in title  # no markup in <title>
    # The old randomization notices page leads to the inbox.
    response = client.get("/randomization/notifications/")
    assert response.status_code == 302 and response["Location"] == "/subjects/notifications/"

    # Mark one read, then all: the badge goes down and disappears.
    one = Notification.objects.filter(user=personas["inv001"], key__startswith="reminder:").get()
    client.post("/subjects/notifications/read/", {"id": one.pk})
    assert 'data-testid="unread-count">2<' in client.get("/subjects/notifications/").content.decode()
    client.post("/subjects/notifications/read/")
    page = client.get("/subjects/notifications/").content.decode()
    assert 'data-testid="unread-count"' not in page
    assert not Notification.objects.filter(user=personas["inv001"], read_at__isnull=True).exists()
    # Another user's notices are untouched by inv001's "mark all read".
    assert Notification.objects.filter(user=personas["coord001"], read_at__isnull=True).exists()


def test_statistician_alerts_on_the_lists_page_come_from_the_inbox(personas, client_for):
    from core.services import notification_create

    notification_create(users=[personas["statistician"]], key="stratum-low:001-anterior:10:low",
                        title="Allocation list: stratum 001-anterior has 9 entries left", body="b", email=False)
    notification_create(users=[personas["statistician"]], title="Something else", body="b", email=False)
    client = client_for("statistician")
    body = client.get("/randomization/lists/").content.decode()
    assert body.count('data-testid="alert"') == 1 and "9 entries left" in body
    inbox = client.get("/subjects/notifications/").content.decode()
    assert "9 entries left" in inbox and "Something else" in inbox


def test_the_randomization_notice_reads_the_memberships_of_all_its_recipients_at_once(make_subject, personas, sites):
    """Whether each e-mail may carry the arm is decided per recipient from memberships read in
    one query, however many investigators the site has."""
    from django.core import mail
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.roles import Role
    from randomization.models import Allocation
    from randomization.services import allocation_confirmation_send
    from tests.conftest import make_user

    def membership_reads(subject) -> tuple[int, int]:
        mail.outbox.clear()
        with CaptureQueriesContext(connection) as ctx:
            sent = allocation_confirmation_send(allocation_id=Allocation.objects.get(subject=subject).pk)
        return sent, sum('FROM "core_membership"' in q["sql"] for q in ctx.captured_queries)

    few_sent, few = membership_reads(make_subject(T0))
    for i in range(5):
        make_user(f"inv001x{i}", Role.INVESTIGATOR, sites["001"])
    many_sent, many = membership_reads(make_subject(T0))
    assert many_sent == few_sent + 5
    assert many == few
    assert len(mail.outbox) == many_sent
