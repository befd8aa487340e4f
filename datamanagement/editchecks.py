"""Edit checks: every form's hard and soft checks, declared in one readable place (SPEC §8).

- hard: the value is impossible. The save is refused; the message names the field and the
  rule, and everything else the user typed is kept (the form re-renders).
- soft: the value is unusual. The save goes through and a query opens automatically on the
  field (one per check and field while unresolved); `deviation=True` also flags it as a
  protocol deviation.

Pure Python, no ORM: a check sees the values being saved (`data`), the values before the
save (`ctx.previous`, None on first save) and a few facts about the subject gathered by
datamanagement.services (`ctx`). Field names that a form does not have are skipped, so one
check (e.g. the NIHSS item ranges) serves every form that records NIHSS items.

The CHECKS table at the bottom is what a reviewer reads against the protocol.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

HARD = "hard"
SOFT = "soft"

# --- Protocol numbers the checks use (SPEC §4, §6; SCALES.md) -----------------------------
NIHSS_ITEMS: dict[str, tuple[int, bool]] = {  # item → (maximum, "UN" allowed)
    "1a": (3, False), "1b": (2, False), "1c": (2, False), "2": (2, False), "3": (3, False),
    "4": (3, False), "5a": (4, True), "5b": (4, True), "6a": (4, True), "6b": (4, True),
    "7": (2, True), "8": (2, False), "9": (3, False), "10": (2, True), "11": (2, False),
}
NIHSS_UNTESTABLE = "UN"
DAY90_FIRST_DAY, DAY90_LAST_DAY = 83, 97  # V5 window: day 83–97, day 0 = local date of T0
# Eligibility thresholds a later lab value may breach (EX3, EX8; the boundary is eligible).
LAB_THRESHOLDS: dict[str, tuple[str, Decimal, str, str]] = {
    # field: (breach when value is "<" or ">" than, threshold, unit, criterion)
    "platelets": ("<", Decimal("100"), "×10⁹/L", "EX3"),
    "aptt": (">", Decimal("50"), "s", "EX3"),
    "inr": (">", Decimal("2.0"), "", "EX3"),
    "gfr": ("<", Decimal("30"), "mL/min", "EX8"),
}
CREATININE_MAX = {"umol/L": Decimal("220"), "mg/dL": Decimal("2.5")}  # EX8, in the unit entered


@dataclass(frozen=True)
class Context:
    """What a check may know besides the form's own values."""

    previous: Mapping[str, Any] | None = None  # values before this save; None = first save
    randomized_at: dt.datetime | None = None  # T0
    site_time_zone: str = "Asia/Shanghai"
    baseline: Mapping[str, Any] = field(default_factory=dict)  # the subject's screening values
    enrolled: bool = False  # eligibility decided (randomized): later lab breaches are deviations
    other_forms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # code → values


@dataclass(frozen=True)
class Failure:
    check: str
    field: str
    severity: str
    message: str
    rule: str
    deviation: bool = False

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Check:
    code: str
    field: str  # the field the error or query attaches to
    severity: str
    rule: str  # the rule in words, shown with every failure
    test: Callable[[Mapping[str, Any], Context], Iterable[tuple[str, str]] | None]
    deviation: bool = False


@dataclass
class Result:
    hard: list[Failure] = field(default_factory=list)
    soft: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.hard


# --- Check builders -----------------------------------------------------------------------


def _dec(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def nihss_item_ranges(items_field: str):
    """Each NIHSS item within its range (SCALES.md), 'UN' only where the scale allows it."""

    def test(data, ctx):
        items = data.get(items_field)
        if not isinstance(items, Mapping):
            return None
        out = []
        for item, value in items.items():
            if value is None or value == "":
                continue
            spec = NIHSS_ITEMS.get(str(item))
            if spec is None:
                out.append((items_field, f"NIHSS item {item} does not exist (items are 1a–11)."))
                continue
            high, un_allowed = spec
            if value == NIHSS_UNTESTABLE:
                if not un_allowed:
                    out.append((items_field, f"NIHSS item {item}: 'UN' is not allowed for this item "
                                             f"(allowed 0–{high}), found UN."))
                continue
            try:
                score = int(value)
            except (TypeError, ValueError):
                score = None
            if score is None or str(value).strip() not in {str(score)} or not 0 <= score <= high:
                allowed = f"0–{high}" + (" or UN" if un_allowed else "")
                out.append((items_field, f"NIHSS item {item}: allowed {allowed}, found {value}."))
        return out

    return test


def nihss_item_fields(prefix: str):
    """Forms that store each NIHSS item in its own field ("{prefix}_i1a" … "{prefix}_i11"; UN
    is a separate yes/no field there, so a score field holds a number or nothing)."""

    def test(data, ctx):
        out = []
        for item, (high, _un) in NIHSS_ITEMS.items():
            name = f"{prefix}_i{item}"
            value = data.get(name)
            if value is None or value == "":
                continue
            score = _dec(value)
            if score is None or score != int(score) or not 0 <= score <= high:
                out.append((name, f"NIHSS item {item}: allowed 0–{high}, found {value}."))
        return out

    return test


# The chain of SPEC §8: last known well ≤ arterial puncture ≤ randomization ≤ reperfusion.
TIME_CHAIN = (
    ("last_known_well", "last known well"),
    ("arterial_puncture_at", "arterial puncture"),
    ("randomized_at", "randomization"),
    ("first_reperfusion_at", "reperfusion"),
)


def time_order(chain=TIME_CHAIN):
    """Instants in protocol order. Values come from the form being saved, else from the
    screening CRF (baseline) and the subject's randomization instant. A violation is reported
    on the later field when the form has it, else on the earlier one."""

    def test(data, ctx):
        known = []
        for name, label in chain:
            if name in data:
                value, own = data.get(name), True
            elif name == "randomized_at":
                value, own = ctx.randomized_at, False
            else:
                value, own = ctx.baseline.get(name), False
            if isinstance(value, dt.datetime):
                known.append((name, label, value, own))
        out = []
        for (n1, l1, v1, own1), (n2, l2, v2, own2) in zip(known, known[1:], strict=False):
            if v2 < v1 and (own1 or own2):
                where = n2 if own2 else n1
                out.append((where, f"{l2} ({v2:%Y-%m-%d %H:%M} UTC) is before {l1} "
                                   f"({v1:%Y-%m-%d %H:%M} UTC); it must be the same or later."))
        return out

    return test


def day90_in_window(date_field: str):
    """V5 assessed on day 83–97, day 0 being the local date of T0 (SPEC §6)."""

    def test(data, ctx):
        when = data.get(date_field)
        if when is None or ctx.randomized_at is None:
            return None
        tz = zoneinfo.ZoneInfo(ctx.site_time_zone)
        day0 = ctx.randomized_at.astimezone(tz).date()
        assessed = when.astimezone(tz).date() if isinstance(when, dt.datetime) else when
        day = (assessed - day0).days
        if DAY90_FIRST_DAY <= day <= DAY90_LAST_DAY:
            return None
        return [(date_field, f"The day-90 assessment is on day {day} after randomization; "
                             f"the window is day {DAY90_FIRST_DAY}–{DAY90_LAST_DAY}.")]

    return test


def discharge_mrs_not_better(mrs_field: str):
    """A discharge mRS better (lower) than the pre-stroke mRS is unusual after a stroke."""

    def test(data, ctx):
        discharge, prestroke = data.get(mrs_field), ctx.baseline.get("prestroke_mrs")
        if discharge is None or prestroke is None or discharge == "" or int(discharge) >= int(prestroke):
            return None
        return [(mrs_field, f"mRS at discharge ({discharge}) is better than the pre-stroke mRS "
                            f"({prestroke}); please confirm.")]

    return test


def lab_breach_after_enrollment(lab: str):
    """A lab that was pending (or missing) when the subject was enrolled and now arrives
    beyond an eligibility threshold is a protocol deviation (SPEC §4, labs at the table)."""

    def test(data, ctx):
        if not ctx.enrolled or ctx.previous is None or lab not in data:
            return None
        value, before = _dec(data.get(lab)), _dec(ctx.previous.get(lab))
        if value is None or before == value:
            return None
        if lab == "creatinine":
            unit = data.get("creatinine_unit") or ""
            limit = CREATININE_MAX.get(unit)
            if limit is None or value <= limit:
                return None
            return [(lab, f"creatinine {value} {unit} arrived after enrollment and breaches the "
                          f"eligibility threshold (> {limit} {unit} excludes, EX8): protocol deviation.")]
        op, limit, unit, criterion = LAB_THRESHOLDS[lab]
        breached = value < limit if op == "<" else value > limit
        if not breached:
            return None
        return [(lab, f"{lab} {value} {unit} arrived after enrollment and breaches the eligibility "
                      f"threshold ({op} {limit} {unit} excludes, {criterion}): protocol deviation.".replace("  ", " "))]

    return test


def lab_pending_under_attestation(lab: str):
    """SPEC §4 [decision]: a lab pending under the investigator's attestation opens a query
    until its result is entered (the eligibility verdict carries the matching warning)."""

    def test(data, ctx):
        if data.get(f"{lab}_pending") and data.get("lab_pending_attested"):
            return [(lab, f"{lab} pending under the investigator's attestation: enter the result "
                          "when it arrives (a value beyond the eligibility threshold is a protocol "
                          "deviation).")]
        return None

    return test


def screening_unusual_values():
    """Soft checks of the screening CRF: its usual ranges live with its allowed ranges in
    eligibility/protocol.py (one place), read through the pure eligibility.validation."""

    def test(data, ctx):
        from eligibility.validation import unusual_by_field

        return unusual_by_field(data)

    return test


def in_range(name: str, low, high, unit: str = ""):
    def test(data, ctx):
        value = _dec(data.get(name))
        if value is None or Decimal(str(low)) <= value <= Decimal(str(high)):
            return None
        return [(name, f"{name.replace('_', ' ')}: allowed {low}–{high}{(' ' + unit) if unit else ''}, found {value}.")]

    return test


def hard(code, field_name, rule, test) -> Check:
    return Check(code=code, field=field_name, severity=HARD, rule=rule, test=test)


def soft(code, field_name, rule, test, deviation=False) -> Check:
    return Check(code=code, field=field_name, severity=SOFT, rule=rule, test=test, deviation=deviation)


# --- The checks of every form -------------------------------------------------------------
# Keyed by the CRF code of core.crf. A form without an entry has no edit checks.

_NIHSS_RULE = gettext_lazy("each NIHSS item within its range (1a 0–3, 1b/1c/2 0–2, 3/4 0–3, 5a–6b 0–4 or UN, 7 0–2 or UN, "
                  "8 0–2, 9 0–3, 10 0–2 or UN, 11 0–2)")
_ORDER_RULE = gettext_lazy("last known well ≤ arterial puncture ≤ randomization ≤ reperfusion")

CHECKS: dict[str, list[Check]] = {
    "SCREENING": [
        hard("NIHSS_ITEM_RANGE", "nihss_items", _NIHSS_RULE, nihss_item_ranges("nihss_items")),
        hard("NIHSS_TOTAL_RANGE", "nihss_baseline", gettext_lazy("NIHSS total 0–42"), in_range("nihss_baseline", 0, 42)),
        hard("PRESTROKE_MRS_RANGE", "prestroke_mrs", gettext_lazy("pre-stroke mRS 0–5"), in_range("prestroke_mrs", 0, 5)),
        hard("TIME_ORDER", "arterial_puncture_at", _ORDER_RULE, time_order()),
        *[soft(f"LAB_BREACH_{lab.upper()}", lab,
               gettext_lazy("a lab pending at enrollment must not breach an eligibility threshold later"),
               lab_breach_after_enrollment(lab), deviation=True)
          for lab in ("platelets", "aptt", "inr", "gfr", "creatinine")],
        *[soft(f"LAB_PENDING_{lab.upper()}", lab,
               gettext_lazy("a lab may be pending only under the investigator's attestation; its result is due"),
               lab_pending_under_attestation(lab))
          for lab in ("platelets", "aptt", "inr", "gfr", "creatinine")],
        soft("UNUSUAL_VALUE", "age_years", gettext_lazy("unusual but possible value (usual ranges: eligibility/protocol.py)"),
             screening_unusual_values()),
    ],
    "V1_PROCEDURE": [
        hard("TIME_ORDER", "first_reperfusion_at", _ORDER_RULE, time_order()),
    ],
    "V2_24H": [
        hard("NIHSS_ITEM_RANGE", "nihss_i1a", _NIHSS_RULE, nihss_item_fields("nihss")),
    ],
    "V3_48H": [
        hard("NIHSS_ITEM_RANGE", "before_i1a", _NIHSS_RULE, nihss_item_fields("before")),
        hard("NIHSS_ITEM_RANGE_WORSE", "worse_i1a", _NIHSS_RULE, nihss_item_fields("worse")),
    ],
    "V4_DAY7": [
        hard("NIHSS_ITEM_RANGE", "nihss_i1a", _NIHSS_RULE, nihss_item_fields("nihss")),
        hard("MRS_RANGE", "mrs_discharge", gettext_lazy("mRS 0–6"), in_range("mrs_discharge", 0, 6)),
        soft("DISCHARGE_MRS_BETTER", "mrs_discharge", gettext_lazy("mRS at discharge not better than pre-stroke mRS"),
             discharge_mrs_not_better("mrs_discharge")),
    ],
    "V5_DAY90": [
        hard("MRS_RANGE", "mrs", gettext_lazy("mRS 0–6"), in_range("mrs", 0, 6)),
        soft("DAY90_WINDOW", "assessed_on", format_lazy(gettext_lazy("assessed on day {first}–{last} after randomization"),
                         first=DAY90_FIRST_DAY, last=DAY90_LAST_DAY),
             day90_in_window("assessed_on")),
    ],
}

# Forms whose field names differ from the defaults above map them here (form code → {our
# name: their name}); applied by checks_for(). Kept beside CHECKS so the mapping is reviewed
# with the rules.
FIELD_ALIASES: dict[str, dict[str, str]] = {}


def checks_for(code: str) -> list[Check]:
    aliases = FIELD_ALIASES.get(code)
    checks = CHECKS.get(code, [])
    if not aliases:
        return checks
    return [Check(code=c.code, field=aliases.get(c.field, c.field), severity=c.severity, rule=c.rule,
                  test=_aliased(c.test, aliases), deviation=c.deviation) for c in checks]


def _aliased(test, aliases):
    reverse = {theirs: ours for ours, theirs in aliases.items()}

    def wrapped(data, ctx):
        mapped = {reverse.get(k, k): v for k, v in data.items()}
        prev = ctx.previous
        if prev is not None:
            ctx = Context(previous={reverse.get(k, k): v for k, v in prev.items()},
                          randomized_at=ctx.randomized_at, site_time_zone=ctx.site_time_zone,
                          baseline=ctx.baseline, enrolled=ctx.enrolled, other_forms=ctx.other_forms)
        return [(aliases.get(f, f), m) for f, m in (test(mapped, ctx) or [])]

    return wrapped


def run(code: str, data: Mapping[str, Any], ctx: Context | None = None) -> Result:
    """Run every check of form `code` on `data`."""
    ctx = ctx or Context()
    result = Result()
    for check in checks_for(code):
        for field_name, message in check.test(data, ctx) or ():
            failure = Failure(check=check.code, field=field_name, severity=check.severity,
                              message=message, rule=check.rule, deviation=check.deviation)
            (result.hard if check.severity == HARD else result.soft).append(failure)
    return result
