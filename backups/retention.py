"""Which backup sets to keep (pure logic, no ORM).

Policy (settings EDC_BACKUP_RETENTION_DAILY_DAYS / EDC_BACKUP_RETENTION_MONTHLY_DAYS):
1. every successful set of the last `daily_days` days is kept;
2. of older sets, the first successful set of each calendar month (UTC) is kept while it is
   younger than `monthly_days` — the retention period of the trial records (EU CTR Art. 58 asks
   25 years for the trial master file; China's GCP at least 5 years after the trial ends);
3. the newest successful set is always kept, however old (never prune the last good copy).
Everything else may be pruned from the target (its history row stays).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SetAge:
    name: str
    finished_at: datetime


def sets_to_keep(sets: Iterable[SetAge], *, now: datetime, daily_days: int, monthly_days: int) -> set[str]:
    sets = sorted(sets, key=lambda s: (s.finished_at, s.name))
    if not sets:
        return set()
    keep = {sets[-1].name}
    first_of_month: dict[tuple[int, int], SetAge] = {}
    for s in sets:
        age = now - s.finished_at
        if age <= timedelta(days=daily_days):
            keep.add(s.name)
        first_of_month.setdefault((s.finished_at.year, s.finished_at.month), s)
    for s in first_of_month.values():
        if now - s.finished_at <= timedelta(days=monthly_days):
            keep.add(s.name)
    return keep


def sets_to_prune(sets: Iterable[SetAge], **policy) -> set[str]:
    sets = list(sets)
    return {s.name for s in sets} - sets_to_keep(sets, **policy)
