"""The NIH Stroke Scale (SCALES.md): 15 items, their ranges and UN ("untestable") rules,
and the derived total. Pure: no database."""

from __future__ import annotations

from collections.abc import Mapping

from core import protocol as P

# The item table is the protocol module's (SCALES.md, defined once).
Item = P.NihssItem
ITEMS: tuple[Item, ...] = P.NIHSS_ITEM_TABLE
BY_CODE = {item.code: item for item in ITEMS}
MAX_TOTAL = P.NIHSS_MAX_TOTAL  # 42


def field_name(prefix: str, item: Item) -> str:
    return f"{prefix}_{item.field}"


def un_field_name(prefix: str, item: Item) -> str:
    return f"{prefix}_{item.field}_un"


class ItemOutOfRange(ValueError):
    def __init__(self, field: str, item: Item, value):
        self.field = field
        super().__init__(f"NIHSS item {item.code} ({item.label}) must be 0–{item.max}"
                         f"{' or UN' if item.untestable else ''}; found {value}.")


def check_items(values: Mapping[str, object], prefix: str) -> list[ItemOutOfRange]:
    """Hard check: each recorded item within its range (UN only where the scale allows it)."""
    errors = []
    for item in ITEMS:
        name = field_name(prefix, item)
        value = values.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, int) or not 0 <= value <= item.max:
            errors.append(ItemOutOfRange(name, item, value))
    return errors


def total(values: Mapping[str, object], prefix: str) -> int | None:
    """Sum of the 15 items, UN counting 0. None unless every item is scored or UN."""
    result = 0
    for item in ITEMS:
        if item.untestable and values.get(un_field_name(prefix, item)):
            continue
        value = values.get(field_name(prefix, item))
        if value is None or value == "":
            return None
        result += int(value)
    return result


def item_changes(values: Mapping[str, object], before: str, at: str) -> dict[str, int]:
    """Per-item change (at − before) where both are scored; UN counts 0 as in the total."""
    out = {}
    for item in ITEMS:
        a, b = (None if item.untestable and values.get(un_field_name(p, item))
                else values.get(field_name(p, item)) for p in (at, before))
        if item.untestable and values.get(un_field_name(at, item)):
            a = 0
        if item.untestable and values.get(un_field_name(before, item)):
            b = 0
        if a is None or b is None or a == "" or b == "":
            continue
        out[item.code] = int(a) - int(b)
    return out
