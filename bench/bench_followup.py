"""Follow-up benchmarks: send_due_reminders over 10,000 randomized subjects (time and query
count, against a same-run baseline), and the casebook's query count at 1 and 50 events."""

from __future__ import annotations

from datetime import timedelta

N_SUBJECTS = 10_000


def _setup():
    from core.models import Site, Subject, User
    from core.roles import Role
    from core.services import membership_grant

    sites = [Site.objects.create(code=f"{i:03d}", name=f"Bench site {i}",
                                 time_zone="Europe/Berlin" if i == 3 else "Asia/Shanghai") for i in (1, 2, 3)]
    for site in sites:
        for role in (Role.COORDINATOR, Role.ASSESSOR):
            user = User.objects.create_user(username=f"{role}{site.code}", email=f"{role}{site.code}@example.org")
            membership_grant(user=user, role=role, site=site)
    monitor = User.objects.create_user(username="monitor", email="monitor@example.org")
    membership_grant(user=monitor, role=Role.MONITOR, site=None)
    from django.utils import timezone

    now = timezone.now()
    # Randomized over the last 110 days: every reminder point of SPEC §7 is due for someone.
    step = timedelta(days=110) / N_SUBJECTS
    Subject.objects.bulk_create(
        [Subject(number=f"{sites[i % 3].code}-{i // 3 + 1:04d}", site=sites[i % 3],
                 randomized_at=now - step * (i + 1)) for i in range(N_SUBJECTS)],
        batch_size=2000)
    return now


def run() -> list[str]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.harness import count_queries, timed
    from core.models import Notification, Subject, User
    from followup import reminders, services
    from followup.models import Reminder

    now = _setup()
    lines = []
    # Baseline: one pass over the 10,000 subjects' ids, times and zones (the least any
    # scheduler must read).
    baseline = min(timed(lambda: list(Subject.objects.values_list("pk", "randomized_at", "site__time_zone")),
                         repeat=3))
    with CaptureQueriesContext(connection) as ctx:
        first = timed(lambda: reminders.send_due_reminders(now=now))[0]
    lines.append(f"first run (schedules {Reminder.objects.count():,} reminder rows, sends "
                 f"{Reminder.objects.filter(state='sent').count():,} reminders / {Notification.objects.count():,} "
                 f"notifications): {first:.2f} s = {first / baseline:.0f}× baseline, {len(ctx.captured_queries)} queries")
    with CaptureQueriesContext(connection) as ctx:
        steady = timed(lambda: reminders.send_due_reminders(now=now + timedelta(minutes=5)))[0]
    lines.append(f"next beat 5 min later (nothing new due): {steady * 1000:.0f} ms = {steady / baseline:.1f}× "
                 f"baseline, {len(ctx.captured_queries)} queries")
    before = Notification.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        day = timed(lambda: reminders.send_due_reminders(now=now + timedelta(days=1)))[0]
    lines.append(f"a day later ({Notification.objects.count() - before:,} new notifications): {day:.2f} s = "
                 f"{day / baseline:.1f}× baseline, {len(ctx.captured_queries)} queries")
    lines.append(f"baseline (read 10,000 subjects once): {baseline * 1000:.0f} ms")

    # Casebook queries at 1 and 50 events.
    coordinator = User.objects.get(username="coordinator001")
    subject = Subject.objects.filter(site__code="001").order_by("-randomized_at").first()
    client = Client()
    client.force_login(coordinator)
    url = f"/subjects/{subject.number}/"

    def add_events(n):
        for i in range(n):
            services.adverse_event_save(subject=subject, user=coordinator, version=None,
                                        data={"term": f"event {i}", "onset_on": now.date()})

    add_events(1)
    client.get(url)
    one = count_queries(lambda: client.get(url))
    add_events(49)
    fifty = count_queries(lambda: client.get(url))
    lines.append(f"casebook queries: {one} at 1 event, {fifty} at 50 events ({'equal' if one == fifty else 'NOT EQUAL'})")
    return lines
