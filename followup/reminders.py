"""Exactly-once visit reminders (SPEC §7).

`send_due_reminders()` steps (a handful of set-based queries, no per-subject query loop):
1. Schedule: for on-study subjects inside the reminder horizon that have no Reminder rows yet,
   compute their reminder points (followup.schedule, site zone) and bulk-insert them with
   ON CONFLICT DO NOTHING on UNIQUE (subject, key): two runs at once insert each point once.
2. Cancel: scheduled reminders of subjects off study (dead, withdrawn, lost, completed) or of
   visits already entered become `cancelled` (one UPDATE).
3. Supersede: when several points of one visit are due (the beat was down), only the latest
   is sent; the earlier ones become `superseded` (one UPDATE).
4. Claim and notify, in batches: SELECT … FOR UPDATE SKIP LOCKED the due scheduled rows (a
   concurrent run skips them), re-check the visit is not entered and the subject is on study,
   move them `scheduled → sent` with a conditional UPDATE, and write the in-app notifications
   (core.Notification, key "reminder:<id>": UNIQUE (user, key) = once per reminder and user)
   — all in one transaction, so a worker killed at any point either
   left everything (the next run sends it) or nothing (the batch rolled back).
5. E-mail after commit (core.services.notification_emails_send, the one pipeline of every
   notice): each notification's e-mail is claimed `queued → sending` with a
   conditional UPDATE, sent, and marked `sent`. A worker killed after the claim but before the
   mark leaves `sending`: such rows are not resent (no duplicate); they are reported as failed
   after EDC_REMINDER_EMAIL_LEASE_SECONDS so a person can check. Queued rows left by a killed
   worker are sent by the next run.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from core import i18n
from core.models import EmailState, Membership, Notification, Subject, SubjectStatus
from core.roles import Role
from core.services import notification_emails_expire, notification_emails_send
from followup import schedule
from followup.models import Day90, Reminder, ReminderState, Visit48h

log = logging.getLogger(__name__)

# Visit of a reminder → the form whose existence means "entered".
ENTERED_BY_VISIT = {"V3": Visit48h, "V5": Day90}

TITLES = {
    "V3_open": _("48-hour visit window opens for {number} (now until {closes})"),
    "V3_due": _("48-hour visit due now for {number} (window closes {closes})"),
    "V3_overdue": _("OVERDUE: 48-hour visit not entered for {number} (window closed {closes})"),
    "V5_upcoming": _("Day-90 visit of {number} in 7 days: window {opens} – {closes}"),
    "V5_open": _("Day-90 window opens today for {number} (window closes {closes})"),
    "V5_target": _("Day 90 today for {number} (window closes {closes})"),
    "V5_closing": _("Day-90 visit not entered for {number}: window closes {closes}"),
    "V5_missed": _("MISSED: day-90 visit of {number} not entered in its window (window closed {closes})"),
}


def _setting(name: str, default):
    return getattr(settings, name, default)


def _not_entered(visit_field: str = "visit", subject_ref: str = "subject") -> Q:
    q = Q()
    for visit, model in ENTERED_BY_VISIT.items():
        q |= Q(**{visit_field: visit}) & ~Exists(model.objects.filter(subject=OuterRef(subject_ref)))
    return q


def schedule_new(now: datetime) -> int:
    """Step 1: create the reminder rows of subjects that have none yet.

    Points of a visit that a later, already-due point of the same visit supersedes are not
    created at all (they would never be sent). The rows go in with one INSERT … SELECT
    unnest(arrays) per 20,000 rows, ON CONFLICT DO NOTHING on the claim key: a cold start over
    10,000 subjects costs a few statements instead of ~70,000 ORM objects.
    """
    oldest = now - timedelta(days=schedule.latest_reminder_days())
    youngest = now - timedelta(hours=schedule.earliest_reminder_hours()) + timedelta(days=1)
    rows = (
        Subject.objects.filter(status=SubjectStatus.ON_STUDY, randomized_at__gte=oldest,
                               randomized_at__lte=youngest)
        .filter(~Exists(Reminder.objects.filter(subject=OuterRef("pk"))))
        .values_list("pk", "randomized_at", "site__time_zone")
    )
    columns: tuple[list, ...] = ([], [], [], [], [])
    for subject_id, randomized_at, tz in rows.iterator(chunk_size=5000):
        points = schedule.reminder_points(randomized_at, tz)
        latest_due = {p.visit: p.key for p in points if p.at <= now}  # points are in time order
        for point in points:
            if point.at <= now and latest_due[point.visit] != point.key:
                continue  # superseded before it was ever due for sending
            for column, value in zip(columns, (subject_id, point.key, point.visit, point.at, point.escalate),
                                     strict=True):
                column.append(value)
    table = Reminder._meta.db_table
    sql = (f"INSERT INTO {table} (subject_id, key, visit, due_at, escalate, state, task_id) "
           "SELECT s, k, v, d, e, %s, '' FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], "
           "%s::timestamptz[], %s::boolean[]) AS t(s, k, v, d, e) ON CONFLICT DO NOTHING")
    chunk = 20_000
    with connection.cursor() as cursor:
        for i in range(0, len(columns[0]), chunk):
            cursor.execute(sql, [ReminderState.SCHEDULED, *(c[i:i + chunk] for c in columns)])
    return len(columns[0])


def cancel_and_supersede(now: datetime) -> None:
    """Steps 2 and 3."""
    scheduled = Reminder.objects.filter(state=ReminderState.SCHEDULED)
    entered = Q()
    for visit, model in ENTERED_BY_VISIT.items():
        entered |= Q(visit=visit) & Exists(model.objects.filter(subject=OuterRef("subject")))
    scheduled.filter(Q(due_at__lte=now) & (entered | ~Q(subject__status=SubjectStatus.ON_STUDY))) \
        .update(state=ReminderState.CANCELLED)
    later_due = Reminder.objects.filter(subject=OuterRef("subject"), visit=OuterRef("visit"),
                                        due_at__gt=OuterRef("due_at"), due_at__lte=now)
    scheduled.filter(due_at__lte=now).filter(Exists(later_due)).update(state=ReminderState.SUPERSEDED)


def _recipients(site_ids: set[int]) -> dict[int | None, dict[str, list]]:
    """Active coordinators, assessors and monitors per site (monitors with no site: all)."""
    out: dict[int | None, dict[str, list]] = {}
    memberships = (Membership.objects.filter(active=True, user__is_active=True,
                                             role__in=[Role.COORDINATOR, Role.ASSESSOR, Role.MONITOR])
                   .filter(Q(site_id__in=site_ids) | Q(site__isnull=True, role=Role.MONITOR))
                   .select_related("user"))
    for m in memberships:
        out.setdefault(m.site_id, {}).setdefault(m.role, []).append(m.user)
    return out


def _people(reminder: Reminder, recipients) -> list:
    site_id = reminder.subject.site_id
    here = recipients.get(site_id, {})
    users = list(here.get(Role.COORDINATOR, []))
    if reminder.visit == "V5":
        users += here.get(Role.ASSESSOR, [])  # SPEC §7: day-90 reminders also to the assessors
    if reminder.escalate:
        users += here.get(Role.MONITOR, []) + recipients.get(None, {}).get(Role.MONITOR, [])
    seen, unique = set(), []
    for u in users:
        if u.pk not in seen:
            seen.add(u.pk)
            unique.append(u)
    return unique


def _message(reminder: Reminder) -> tuple[str, str]:
    """Title and body of a reminder. Every instant in it — the window's opening, target and
    end — is written one way: core's one format with the site's zone (edc_time), so the end
    of the window reads the same in the title and in the body."""
    from core.templatetags.edc import edc_time

    subject = reminder.subject
    site = subject.site
    w = schedule.visit_window(reminder.visit, subject.randomized_at, site.tz)

    def fmt(instant):
        return edc_time(instant, site)

    values = {"number": subject.number, "opens": fmt(w.opens), "closes": fmt(w.closes)}
    title = str(TITLES[reminder.key]).format(**values)
    body = "\n".join((title,
                      _("Site {code} {name}; times in {zone}.").format(code=site.code, name=site.name,
                                                                        zone=site.time_zone),
                      _("Window: {opens} – {closes} (target {target}).").format(
                          opens=fmt(w.opens), closes=fmt(w.closes), target=fmt(w.target))))
    return title, body


def claim_batch(now: datetime, batch_size: int, task_id: str) -> int:
    """Step 4 for one batch; returns how many reminders it claimed. Their e-mails are sent
    after the commit (transaction.on_commit), never before."""
    with transaction.atomic(durable=True):
        due = list(
            Reminder.objects.filter(state=ReminderState.SCHEDULED, due_at__lte=now,
                                    subject__status=SubjectStatus.ON_STUDY)
            .filter(_not_entered())
            .select_related("subject__site")
            .order_by("due_at", "pk")
            # Race prevented: two runs (beat twice, a retry, a second worker) picking the same
            # reminder. SKIP LOCKED lets the other run take the next rows instead of waiting.
            .select_for_update(skip_locked=True, no_key=True, of=("self",))[:batch_size]
        )
        if not due:
            return 0
        claimed = Reminder.objects.filter(pk__in=[r.pk for r in due], state=ReminderState.SCHEDULED) \
            .update(state=ReminderState.SENT, sent_at=now, task_id=task_id[:64])
        if claimed != len(due):  # impossible while we hold the row locks; never send twice
            raise RuntimeError(f"claimed {claimed} of {len(due)} locked reminders")
        recipients = _recipients({r.subject.site_id for r in due})
        notes = []
        casebook_url = reverse("followup:casebook", args=["SUBJECT"])  # resolved once per batch
        for reminder in due:
            texts = {}  # language -> (title, body): each person reads it in their language
            url = casebook_url.replace("SUBJECT", reminder.subject.number)
            for user in _people(reminder, recipients):
                language = i18n.language_of(user)
                if language not in texts:
                    with translation.override(language):
                        texts[language] = _message(reminder)
                title, body = texts[language]
                notes.append(Notification(user=user, key=reminder_key(reminder.pk), subject=reminder.subject,
                                          title=title[:200], body=body, url=url,
                                          email_state=EmailState.QUEUED if user.email else EmailState.NONE))
        Notification.objects.bulk_create(notes)
        ids = [n.pk for n in notes if n.email_state == EmailState.QUEUED]
        if ids:
            transaction.on_commit(lambda: send_emails(ids))
    return len(due)


def reminder_key(reminder_id: int) -> str:
    """The notification key of a reminder: UNIQUE (user, key) = once per (reminder, user)."""
    return f"reminder:{reminder_id}"


def send_emails(ids: list[int] | None = None) -> int:
    """Step 5: send queued e-mails (the given notifications, or every queued one), one digest
    per person (core.services.notification_emails_send)."""
    return notification_emails_send(ids=ids)


def expire_stuck_emails(now: datetime) -> None:
    notification_emails_expire(now=now, lease_seconds=_setting("EDC_REMINDER_EMAIL_LEASE_SECONDS", 900))


def send_due_reminders(now: datetime | None = None, task_id: str = "") -> dict[str, int]:
    """Run every step; safe to run any number of times at once (see the module docstring)."""
    now = now or timezone.now()
    task_id = task_id or uuid.uuid4().hex
    batch_size = _setting("EDC_REMINDER_BATCH_SIZE", 2000)
    pause = _setting("EDC_REMINDER_BATCH_PAUSE_SECONDS", 0)
    created = schedule_new(now)
    cancel_and_supersede(now)
    expire_stuck_emails(now)
    send_emails()  # e-mails queued by a run that died before sending them
    sent = 0
    while True:
        # Rows locked by a concurrent run are skipped: they are that run's to send.
        claimed = claim_batch(now, batch_size, task_id)
        if not claimed:
            break
        sent += claimed
        if pause:
            time.sleep(pause)  # throttle for the mail server between batches
    return {"scheduled": created, "sent": sent}
