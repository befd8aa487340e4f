"""The visit schedule and reminder points of SPEC §6–§7, as pure functions (no ORM).

T0 is the randomization instant. Windows measured in hours (V2, V3) are exact instants from
T0. Windows measured in days (V4, V5) are calendar dates in the site's zone, day 0 being the
local date of T0: a day window opens at 00:00 local time of its first day and closes at the
end of its last day. Every window is half-open: `opens <= t < closes`, so `closes` is the
first instant outside the window (SPEC §10).

Every [decision] of the schedule lives in the protocol module (core.protocol: VISITS,
REMINDERS) and nowhere else.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.protocol import REMINDERS, VISITS, ReminderRule, VisitRule


@dataclass(frozen=True)
class Window:
    code: str
    target: datetime
    opens: datetime
    closes: datetime  # first instant outside the window
    unit: str = "hours"
    overdue_at: datetime | None = None  # due until here, overdue after (defaults to closes)
    missed_when_closed: bool = False

    @property
    def last_day(self) -> date | None:
        """For day windows: the last calendar day inside the window (local)."""
        if self.unit != "days":
            return None
        return (self.closes - timedelta(seconds=1)).date()

    def contains(self, instant: datetime) -> bool:
        return self.opens <= instant < self.closes


@dataclass(frozen=True)
class ReminderPoint:
    key: str
    visit: str
    at: datetime  # aware, in the site's zone
    escalate: bool


def _zone(tz: tzinfo | str) -> tzinfo:
    return zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz


def local_day_start(day0: date, days: int, tz: tzinfo) -> datetime:
    """00:00 local time of day `days` (day 0 = local date of T0), as an aware datetime.

    Going through UTC normalises a midnight that a DST jump skips to the first real instant.
    """
    naive = datetime.combine(day0 + timedelta(days=days), time(0))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def day_zero(randomized_at: datetime, tz: tzinfo | str) -> date:
    if randomized_at.tzinfo is None:
        raise ValueError("randomized_at must be timezone-aware")
    return randomized_at.astimezone(_zone(tz)).date()


def _after(instant: datetime, hours: int, tz: tzinfo) -> datetime:
    """`hours` elapsed hours after `instant`. Python adds a timedelta to an aware datetime in
    wall-clock time, which is wrong across a DST change, so the sum is done in UTC."""
    return (instant.astimezone(UTC) + timedelta(hours=hours)).astimezone(tz)


def _window(rule: VisitRule, randomized_at: datetime, tz: tzinfo) -> Window:
    if rule.unit == "hours":
        return Window(
            code=rule.code, unit="hours", target=_after(randomized_at, rule.target, tz),
            opens=_after(randomized_at, rule.target - rule.before, tz),
            closes=_after(randomized_at, rule.target + rule.after, tz),
            missed_when_closed=rule.missed_when_closed,
        )
    d0 = day_zero(randomized_at, tz)
    return Window(
        code=rule.code, unit="days",
        target=local_day_start(d0, rule.target, tz),
        opens=local_day_start(d0, rule.target - rule.before, tz),
        closes=local_day_start(d0, rule.target + rule.after + 1, tz),
        overdue_at=local_day_start(d0, rule.overdue_day, tz) if rule.overdue_day else None,
        missed_when_closed=rule.missed_when_closed,
    )


def visit_windows(randomized_at: datetime, tz: tzinfo | str) -> list[Window]:
    """The windows of V2–V5 for a subject randomized at `randomized_at` at a site in `tz`."""
    zone = _zone(tz)
    if randomized_at.tzinfo is None:
        raise ValueError("randomized_at must be timezone-aware")
    return [_window(rule, randomized_at, zone) for rule in VISITS]


_RULES = {rule.code: rule for rule in VISITS}
__all__ = ["REMINDERS", "VISITS", "ReminderRule", "VisitRule"]


def visit_window(code: str, randomized_at: datetime, tz: tzinfo | str) -> Window:
    """The window of one visit (V2–V5): as visit_windows() but computing only that one."""
    return _window(_RULES[code], randomized_at, _zone(tz))


def procedure_window(randomized_at: datetime, tz: tzinfo | str) -> Window:
    """V1 (procedure): on the day of T0 — from T0 to the end of that local day."""
    zone = _zone(tz)
    t0 = randomized_at.astimezone(zone)
    return Window(code="V1", unit="days", target=t0, opens=t0,
                  closes=local_day_start(t0.date(), 1, zone))


def reminder_points(randomized_at: datetime, tz: tzinfo | str) -> list[ReminderPoint]:
    """Every reminder of SPEC §7 for one subject, in time order."""
    zone = _zone(tz)
    t0 = randomized_at.astimezone(zone)
    d0 = t0.date()
    points = []
    for rule in REMINDERS:
        if rule.unit == "hours":
            at = _after(t0, rule.offset, zone)
        else:
            at = local_day_start(d0, rule.offset + (1 if rule.day_end else 0), zone)
        points.append(ReminderPoint(key=rule.key, visit=rule.visit, at=at, escalate=rule.escalate))
    return sorted(points, key=lambda p: p.at)


def earliest_reminder_hours() -> int:
    """Hours after T0 before which no reminder can fall (lets the task skip young subjects)."""
    return min(r.offset if r.unit == "hours" else r.offset * 24 - 24 for r in REMINDERS)


def latest_reminder_days() -> int:
    """Days after T0 after which no reminder can fall (lets the task skip old subjects)."""
    return max(r.offset + (1 if r.day_end else 0) if r.unit == "days" else r.offset // 24 + 1
               for r in REMINDERS) + 2


class Status:
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    DUE = "due"
    OVERDUE = "overdue"
    COMPLETE = "complete"
    MISSED = "missed"


def window_status(window: Window, now: datetime, entered: bool) -> str:
    """not yet open < opens <= open < target <= due < overdue point <= overdue < closes;
    after closes: missed (V5) or still overdue (data that can be entered late)."""
    if entered:
        return Status.COMPLETE
    if now < window.opens:
        return Status.NOT_YET_OPEN
    if now < window.target:
        return Status.OPEN
    if now < (window.overdue_at or window.closes):
        return Status.DUE
    if now < window.closes:
        return Status.OVERDUE
    return Status.MISSED if window.missed_when_closed else Status.OVERDUE


def day_number(randomized_at: datetime, tz: tzinfo | str, on: date) -> int:
    """Study day of a local calendar date (day 0 = local date of T0)."""
    return (on - day_zero(randomized_at, tz)).days
