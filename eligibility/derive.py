"""Derived values of the screening CRF, computed in exactly one place (pure, no ORM).

The rules engine, the services (which store the derived values) and the form's live panel all
call these, so the NIHSS total, the circulation and the onset-to-puncture interval can never
disagree between screens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from core import protocol as P


@dataclass(frozen=True)
class NihssResult:
    total: int | None  # None until all 15 items are known (or a typed total is given)
    missing_items: tuple[str, ...]
    untestable_items: tuple[str, ...]
    partial_sum: int  # sum of the items entered so far (UN counts 0)
    from_items: bool


def nihss_item_value(value: Any) -> int | str | None:
    """An item as stored: an int score, "UN", or None (not entered)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = value.strip()
        if value.upper() == P.NIHSS_UNTESTABLE:
            return P.NIHSS_UNTESTABLE
        try:
            return int(value)
        except ValueError:
            return None
    return int(value)


def nihss(items: dict[str, Any] | None, typed_total: Any = None) -> NihssResult:
    """NIHSS total from the 15 items (SCALES.md: UN counts as 0). When no item is entered, a
    typed total (SPEC §4 allows an integer 0–42) stands in. Once items are entered they decide
    (the total is derived, never typed when the items are known); a typed total that disagrees
    with them is refused by eligibility.validation.nihss_total_error."""
    items = items or {}
    missing: list[str] = []
    untestable: list[str] = []
    partial = 0
    any_entered = False
    for code in P.NIHSS_ITEMS:
        value = nihss_item_value(items.get(code))
        if value is None:
            missing.append(code)
            continue
        any_entered = True
        if value == P.NIHSS_UNTESTABLE:
            untestable.append(code)
        else:
            partial += int(value)
    if not any_entered:
        total = to_int(typed_total)
        return NihssResult(total, tuple(missing) if total is None else (), (), total or 0, False)
    return NihssResult(None if missing else partial, tuple(missing), tuple(untestable), partial, True)


def circulation(occlusion_site: str | None) -> str | None:
    """IN5/IN6: ICA/M1 → anterior, V4/BA → posterior; anything else has no circulation here."""
    return P.CIRCULATION_BY_OCCLUSION.get(occlusion_site or "")


def _to_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def lkw_to_puncture(last_known_well: datetime | None, puncture: datetime | None) -> timedelta | None:
    """IN3: the interval from last known well to arterial puncture, to the minute."""
    if last_known_well is None or puncture is None:
        return None
    return _to_minute(puncture) - _to_minute(last_known_well)


def format_interval(delta: timedelta | None) -> str:
    """'24 h 1 min' (negative intervals keep their sign)."""
    if delta is None:
        return "—"
    minutes = int(delta.total_seconds() // 60)
    sign = "−" if minutes < 0 else ""
    minutes = abs(minutes)
    return f"{sign}{minutes // 60} h {minutes % 60} min"


def to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or value == P.PENDING or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def to_int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_pending(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == P.PENDING


def to_bool(value: Any) -> bool | None:
    """Yes/no answers: True, False, or None when not answered."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "on"}:
        return True
    if text in {"false", "no", "0", "off"}:
        return False
    return None


def nihss_entry(items: dict[str, Any] | None, typed_total: Any = None) -> str:
    """How the NIHSS was entered: "items" once any item is scored, "total" for a typed total
    alone, "" when nothing is entered yet (SPEC §4)."""
    result = nihss(items, typed_total)
    if result.from_items:
        return P.NIHSS_ENTRY_ITEMS
    return P.NIHSS_ENTRY_TOTAL if result.total is not None else ""
