"""visit_windows and the reminder points (SPEC §6–§7), pure."""

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest

from followup import schedule
from followup.schedule import Status, reminder_points, visit_windows, window_status

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def by_code(windows):
    return {w.code: w for w in windows}


def test_late_evening_t0_in_shanghai_hours_windows_are_exact_instants():
    t0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)  # 15:40 UTC
    w = by_code(visit_windows(t0, "Asia/Shanghai"))
    assert w["V2"].target == t0 + timedelta(hours=24)
    assert w["V2"].opens == t0 + timedelta(hours=18)
    assert w["V2"].closes == t0 + timedelta(hours=30)
    assert w["V3"].opens == t0 + timedelta(hours=36)
    assert w["V3"].target == t0 + timedelta(hours=48)
    assert w["V3"].closes == t0 + timedelta(hours=60)


def test_late_evening_t0_in_shanghai_day_windows_count_from_the_local_date():
    # 23:40 local on 10 March is 15:40 UTC: day 0 is 10 March (local), not the UTC date.
    t0 = datetime(2026, 3, 10, 15, 40, tzinfo=UTC)
    w = by_code(visit_windows(t0, "Asia/Shanghai"))
    v5 = w["V5"]
    assert v5.opens == datetime(2026, 6, 1, 0, 0, tzinfo=SHANGHAI)  # day 83
    assert v5.target == datetime(2026, 6, 8, 0, 0, tzinfo=SHANGHAI)  # day 90
    assert v5.closes == datetime(2026, 6, 16, 0, 0, tzinfo=SHANGHAI)  # end of day 97
    assert v5.last_day == date(2026, 6, 15)
    v4 = w["V4"]
    assert v4.opens == datetime(2026, 3, 16, tzinfo=SHANGHAI)  # day 6
    assert v4.closes == datetime(2026, 3, 19, tzinfo=SHANGHAI)  # end of day 8
    # A T0 five minutes later, after local midnight, moves every day window by one day.
    later = by_code(visit_windows(t0 + timedelta(minutes=25), "Asia/Shanghai"))
    assert later["V5"].opens == datetime(2026, 6, 2, tzinfo=SHANGHAI)


def test_closes_is_the_first_instant_outside_the_window():
    t0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)
    v5 = by_code(visit_windows(t0, SHANGHAI))["V5"]
    assert v5.contains(v5.closes - timedelta(microseconds=1))
    assert not v5.contains(v5.closes)
    assert v5.contains(v5.opens)
    assert not v5.contains(v5.opens - timedelta(microseconds=1))


def test_berlin_hours_windows_across_the_spring_dst_change_are_exact_elapsed_hours():
    # 28 March 2026 20:00 CET; clocks jump 02:00 -> 03:00 on 29 March.
    t0 = datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)
    v2 = by_code(visit_windows(t0, "Europe/Berlin"))["V2"]
    assert v2.target.astimezone(UTC) - t0.astimezone(UTC) == timedelta(hours=24)
    # 24 elapsed hours later the wall clock shows 21:00 (CEST), not 20:00.
    assert v2.target.astimezone(BERLIN).hour == 21
    assert v2.target.astimezone(UTC) == datetime(2026, 3, 29, 19, 0, tzinfo=UTC)


def test_berlin_day_windows_across_the_autumn_dst_change_open_at_local_midnight():
    # 25 Oct 2026 clocks go back 03:00 -> 02:00. T0 on 20 Aug (CEST); V5 window in November (CET).
    t0 = datetime(2026, 8, 20, 10, 0, tzinfo=BERLIN)
    v5 = by_code(visit_windows(t0, "Europe/Berlin"))["V5"]
    assert v5.opens.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 11, 11, 0, 0)
    assert v5.opens.astimezone(UTC) == datetime(2026, 11, 10, 23, 0, tzinfo=UTC)  # CET = UTC+1
    # V4 window from 26 to 28 Aug; and a T0 just before the autumn change:
    t1 = datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN)  # CEST
    v4 = by_code(visit_windows(t1, "Europe/Berlin"))["V4"]
    assert v4.opens.astimezone(UTC) == datetime(2026, 10, 29, 23, 0, tzinfo=UTC)  # 30 Oct 00:00 CET
    v3 = by_code(visit_windows(t1, "Europe/Berlin"))["V3"]
    # elapsed, despite the 25-hour day: 22:00 CEST + 48 h = 21:00 CET
    assert v3.target.astimezone(UTC) - t1.astimezone(UTC) == timedelta(hours=48)
    assert v3.target.astimezone(BERLIN).hour == 21


def test_naive_randomization_time_is_refused():
    with pytest.raises(ValueError):
        visit_windows(datetime(2026, 1, 1, 12, 0), "Asia/Shanghai")


def test_reminder_points_of_spec_section_7():
    t0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)
    points = {p.key: p for p in reminder_points(t0, "Asia/Shanghai")}
    assert points["V3_open"].at == t0 + timedelta(hours=36)
    assert points["V3_due"].at == t0 + timedelta(hours=48)
    assert points["V3_overdue"].at == t0 + timedelta(hours=60) and points["V3_overdue"].escalate
    assert points["V5_upcoming"].at == datetime(2026, 5, 25, tzinfo=SHANGHAI)  # day 76
    assert points["V5_open"].at == datetime(2026, 6, 1, tzinfo=SHANGHAI)  # day 83
    assert points["V5_target"].at == datetime(2026, 6, 8, tzinfo=SHANGHAI)  # day 90
    assert points["V5_closing"].at == datetime(2026, 6, 13, tzinfo=SHANGHAI) and points["V5_closing"].escalate
    assert points["V5_missed"].at == datetime(2026, 6, 16, tzinfo=SHANGHAI)  # end of day 97
    assert not points["V5_open"].escalate


@pytest.mark.parametrize("offset,entered,expected", [
    (timedelta(hours=35, minutes=59), False, Status.NOT_YET_OPEN),
    (timedelta(hours=36), False, Status.OPEN),
    (timedelta(hours=47, minutes=59), False, Status.OPEN),
    (timedelta(hours=48), False, Status.DUE),
    (timedelta(hours=59, minutes=59), False, Status.DUE),
    (timedelta(hours=60), False, Status.OVERDUE),
    (timedelta(days=30), False, Status.OVERDUE),
    (timedelta(hours=50), True, Status.COMPLETE),
])
def test_v3_status_boundaries(offset, entered, expected):
    t0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)
    v3 = by_code(visit_windows(t0, SHANGHAI))["V3"]
    assert window_status(v3, t0 + offset, entered) == expected


@pytest.mark.parametrize("when,expected", [
    (datetime(2026, 5, 31, 23, 59, tzinfo=SHANGHAI), Status.NOT_YET_OPEN),
    (datetime(2026, 6, 1, 0, 0, tzinfo=SHANGHAI), Status.OPEN),
    (datetime(2026, 6, 8, 0, 0, tzinfo=SHANGHAI), Status.DUE),
    (datetime(2026, 6, 13, 0, 0, tzinfo=SHANGHAI), Status.OVERDUE),
    (datetime(2026, 6, 15, 23, 59, tzinfo=SHANGHAI), Status.OVERDUE),
    (datetime(2026, 6, 16, 0, 0, tzinfo=SHANGHAI), Status.MISSED),
])
def test_v5_status_boundaries(when, expected):
    t0 = datetime(2026, 3, 10, 23, 40, tzinfo=SHANGHAI)
    v5 = by_code(visit_windows(t0, SHANGHAI))["V5"]
    assert window_status(v5, when, entered=False) == expected


def test_horizon_helpers_cover_every_reminder():
    assert schedule.earliest_reminder_hours() <= 36
    assert schedule.latest_reminder_days() >= 98


def test_visit_window_of_one_visit_equals_the_full_list():
    t0 = datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)
    assert [schedule.visit_window(w.code, t0, BERLIN) for w in visit_windows(t0, BERLIN)] == visit_windows(t0, BERLIN)
