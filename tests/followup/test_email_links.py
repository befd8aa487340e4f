"""Every e-mail the system sends carries absolute links (EDC_BASE_URL), and a reminder
writes every instant one way (the one date/time format with the site's zone).

tests/conftest.py checks the e-mails of every test for relative links; this module makes each
kind of e-mail once and checks its links point at EDC_BASE_URL."""

import re
import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import override_settings

from followup.schedule import reminder_points

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "https://edc.example.org"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)
POINTS = dict((p.key, p.at) for p in reminder_points(T0, SHANGHAI))
LINK = re.compile(r"(?:https?://[^\s\"'<>]+|(?<![\w/.:])/[A-Za-z][\w\-]*/[^\s\"'<>]*)")
STAMP = re.compile(r"\d{4}-\d\d-\d\d(?: \d\d:\d\d(?: [A-Za-z_]+/[A-Za-z_]+| UTC)?)?")


def links(message) -> list[str]:
    texts = [message.body] + [content for content, _ in getattr(message, "alternatives", [])]
    return [m for text in texts for m in LINK.findall(text)]


@override_settings(EDC_BASE_URL=BASE)
def test_every_kind_of_email_links_absolutely_to_the_base_url(make_subject, personas, sites,
                                                               django_capture_on_commit_callbacks):
    from backups.services import alert_admins
    from core.services import user_invite
    from datamanagement import services as dm
    from followup.tasks import send_due_reminders
    from randomization.models import Allocation
    from randomization.services import allocation_confirmation_send, blinding_breach_report
    from randomization.services.notices import alert_low_stratum
    from tests.factories import make_screening

    subject = make_subject(T0)
    sent = {}

    def collect(kind, action):
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            action()
        assert mail.outbox, f"{kind}: no e-mail was sent"
        sent[kind] = list(mail.outbox)

    allocation = Allocation.objects.get(subject=subject)
    collect("allocation confirmation", lambda: allocation_confirmation_send(allocation_id=allocation.pk))

    def reminder():
        with time_machine.travel(POINTS["V3_open"], tick=False):
            send_due_reminders()

    collect("visit reminder", reminder)
    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    collect("query opened", lambda: dm.query_open(user=personas["monitor"], instance=screening,
                                                  field_name="aspects", text="ASPECTS 8 or 7?"))
    collect("stratum alert", lambda: alert_low_stratum("001-anterior", 3, 40))
    collect("blinding breach", lambda: blinding_breach_report(
        user=personas["coord001"], site=sites["001"], occurred_at=T0, route="told",
        description="The family said which treatment.", subject=subject, unblinded_user=personas["assessor001"],
        unblinded_person=""))
    collect("backup alert", lambda: alert_admins(key="backup-failed:test", title="Backup failed", body="Disk full."))
    collect("invitation", lambda: user_invite(by=personas["admin"], username="newcoord", first_name="Li",
                                              last_name="Wei", email="li.wei@example.org", role="coordinator",
                                              site=sites["002"], reason="New coordinator at site 002"))
    expected_paths = {
        "allocation confirmation": f"/randomization/allocation/{allocation.pk}/",
        "visit reminder": f"/subjects/{subject.number}/",
        "query opened": "/data/queries/",
        "stratum alert": "/randomization/lists/",
        "blinding breach": "/randomization/breaches/",
        "backup alert": "/backups/",
        "invitation": "/account/login/",
    }
    for kind, messages in sent.items():
        for message in messages:
            found = links(message)
            assert found, f"{kind}: the e-mail has no link"
            relative = [link for link in found if not link.startswith(("http://", "https://"))]
            assert not relative, f"{kind}: relative link(s) {relative} in {message.body!r}"
            assert all(link.startswith(BASE + "/") for link in found), (kind, found)
            assert any(link.startswith(BASE + expected_paths[kind]) for link in found), (kind, found)


@override_settings(EDC_BASE_URL=BASE)
def test_a_digest_of_many_notices_links_each_absolutely(make_subject):
    from followup.tasks import send_due_reminders

    subjects = [make_subject(T0 + timedelta(minutes=i)) for i in range(3)]
    with time_machine.travel(POINTS["V3_due"] + timedelta(hours=1), tick=False):
        send_due_reminders()
    [digest] = [m for m in mail.outbox if m.to == ["coord001@example.org"]]
    found = links(digest)
    assert sorted(found) == sorted(f"{BASE}/subjects/{s.number}/" for s in subjects)


@pytest.mark.parametrize("key", ["V3_open", "V3_due", "V5_upcoming", "V5_open", "V5_target", "V5_closing"])
def test_a_reminder_gives_the_window_end_one_way_in_title_and_body(make_subject, key):
    from core.models import Notification
    from core.templatetags.edc import edc_time
    from followup.models import Reminder
    from followup.schedule import visit_window
    from followup.tasks import send_due_reminders

    subject = make_subject(T0)
    with time_machine.travel(POINTS[key], tick=False):
        send_due_reminders()
    reminder = Reminder.objects.get(subject=subject, key=key)
    note = Notification.objects.get(key=f"reminder:{reminder.pk}", user__username="coord001")
    window = visit_window(key[:2], subject.randomized_at, SHANGHAI)
    closes = edc_time(window.closes, subject.site)
    title_line, _, rest = note.body.partition("\n")
    assert closes in note.title and closes in rest, (note.title, note.body)
    # Every date or time in the notice is a full stamp with its zone: never a bare day.
    for text in (note.title, note.body):
        stamps = STAMP.findall(text)
        assert stamps and all(s.endswith(" Asia/Shanghai") for s in stamps), text
    assert note.title == title_line
