"""Notices and e-mails are written in each recipient's preferred language: a Chinese-preferring
user gets Chinese, an English-preferring one English, from the same event."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail

from core.models import Notification, User
from tests.i18n.visible import CJK

pytestmark = pytest.mark.django_db(transaction=True)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def prefers(user, code):
    User.objects.filter(pk=user.pk).update(preferred_language=code)
    user.refresh_from_db()
    return user


def _chinese(text):
    return bool(CJK.search(text))


def test_query_notice_and_email_follow_each_recipients_language(personas, sites, django_capture_on_commit_callbacks):
    from datamanagement.services import query_open
    from tests.factories import make_screening

    coord = prefers(personas["coord001"], "zh-hans")
    inv = prefers(personas["inv001"], "en")
    screening = make_screening(site=sites["001"], coordinator=coord)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        query_open(user=personas["monitor"], instance=screening, field_name="aspects", text="ASPECTS?")
    zh = Notification.objects.get(user=coord)
    en = Notification.objects.get(user=inv)
    assert zh.title.startswith("质疑：") and "请在 EDC 中" in zh.body, (zh.title, zh.body)
    assert en.title.startswith("Query on ") and not _chinese(en.title + en.body)
    emails = {m.to[0]: m for m in mail.outbox}
    assert _chinese(emails[coord.email].subject) and "请在 EDC 中" in emails[coord.email].body
    assert not _chinese(emails[inv.email].subject + emails[inv.email].body)


def test_visit_reminders_and_digest_email_in_chinese(make_subject_zh):
    from followup.schedule import reminder_points
    from followup.tasks import send_due_reminders

    t0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)
    subjects = [make_subject_zh(t0 + timedelta(minutes=i)) for i in range(2)]
    due = {p.key: p.at for p in reminder_points(t0, SHANGHAI)}["V3_due"]
    mail.outbox.clear()
    with time_machine.travel(due + timedelta(hours=1), tick=False):
        send_due_reminders()
    note = Notification.objects.filter(user__username="coord001").first()
    assert "48 小时访视现已到期" in note.title and "访视窗" in note.body, note.title
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "[ANGEL-RESCUE] 2 条访视提醒"
    assert all(s.number in message.body for s in subjects) and "48 小时访视" in message.body


def test_randomization_email_in_chinese_names_the_arm_by_its_chinese_label(personas, sites):
    from randomization.services import (
        allocation_confirmation_send,
        allocation_list_generate,
        subject_randomize,
    )
    from tests.factories import make_confirmed_screening

    inv = prefers(personas["inv001"], "zh-hans")
    allocation_list_generate(user=personas["statistician"], seed="zh-seed", entries_per_stratum=10)
    screening = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"], investigator=inv)
    allocation = subject_randomize(screening=screening, user=personas["coord001"], notify=False)
    mail.outbox.clear()
    assert allocation_confirmation_send(allocation_id=allocation.pk) == 1
    message = mail.outbox[0]
    assert "完成随机化" in message.subject and allocation.subject.number in message.subject
    label = {"STENTING": "支架置入或血管成形术", "CONTINUED_MT": "继续取栓治疗"}[allocation.arm]
    assert f"组别：{label}" in message.body, message.body


@pytest.fixture
def make_subject_zh(personas, sites):
    """Subjects of site 001 whose coordinator prefers Chinese (the follow-up fixture's way)."""
    from randomization.services import allocation_list_generate, subject_randomize
    from tests.factories import make_confirmed_screening

    prefers(personas["coord001"], "zh-hans")
    allocation_list_generate(user=personas["statistician"], seed="zh-reminders", entries_per_stratum=10)

    def _make(randomized_at):
        with time_machine.travel(randomized_at, tick=False):
            screening = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                                 investigator=personas["inv001"])
            allocation = subject_randomize(screening=screening, user=personas["coord001"], notify=False)
        return allocation.subject

    return _make
