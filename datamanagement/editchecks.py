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

Which checks a form has is part of its registry entry (core.crf: CRF.checks), declared by
the app that owns the form from the builders here; the protocol numbers come from
core.protocol. Nothing here names a form.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from core import protocol as P
from datamanagement.messages import Message
from datamanagement.messages import lazy as _

HARD = "hard"
SOFT = "soft"

# --- Protocol numbers the checks use: core.protocol (SPEC §4, §6; SCALES.md) -------------
NIHSS_ITEMS = P.NIHSS_ITEMS
NIHSS_UNTESTABLE = P.NIHSS_UNTESTABLE
DAY90_FIRST_DAY, DAY90_LAST_DAY = P.DAY90_FIRST_DAY, P.DAY90_LAST_DAY
LAB_THRESHOLDS = P.LAB_THRESHOLDS
CREATININE_MAX = P.CREATININE_MAX


FIRST_ITEM, LAST_ITEM = P.NIHSS_ITEM_TABLE[0].code, P.NIHSS_ITEM_TABLE[-1].code
LAB_LABELS = {"platelets": _("Platelets"), "aptt": _("aPTT"), "inr": _("INR"), "gfr": _("GFR"),
              "creatinine": _("Creatinine")}


def item_out_of_range(item: str, high: int, un_allowed: bool, value) -> Message:
    if un_allowed:
        return _("NIHSS item %(item)s: allowed 0–%(high)s or UN, found %(value)s.") % {
            "item": item, "high": high, "value": value}
    return _("NIHSS item %(item)s: allowed 0–%(high)s, found %(value)s.") % {"item": item, "high": high, "value": value}


def nihss_rule() -> Message:
    """The NIHSS ranges rule, its numbers from core.protocol."""
    ranges = ", ".join(f"{i.code} 0–{i.max}" + (" / UN" if i.untestable else "") for i in P.NIHSS_ITEM_TABLE)
    return _("each NIHSS item within its range (%(ranges)s; UN where the scale allows it)") % {"ranges": ranges}


@dataclass(frozen=True)
class Context:
    """What a check may know besides the form's own values."""

    previous: Mapping[str, Any] | None = None  # values before this save; None = first save
    randomized_at: dt.datetime | None = None  # T0
    site_time_zone: str = "Asia/Shanghai"
    baseline: Mapping[str, Any] = field(default_factory=dict)  # the subject's screening values
    enrolled: bool = False  # eligibility decided (randomized): later lab breaches are deviations
    other_forms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # code → values
    now: dt.datetime | None = None  # the server clock at the save (bounds, "in the future")


@dataclass(frozen=True)
class Failure:
    check: str
    field: str
    severity: str
    message: str  # in the language active when the check ran (hard checks: the user's)
    rule: str
    deviation: bool = False
    source: Message | None = None  # the message as msgid and parameters: stored with its query

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Check:
    code: str
    field: str  # the field the error or query attaches to
    severity: str
    rule: Any  # the rule in words (a Message: shown in the reader's language), shown with every failure
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
                out.append((items_field, _("NIHSS item %(item)s does not exist (items are %(first)s–%(last)s).")
                            % {"item": item, "first": FIRST_ITEM, "last": LAST_ITEM}))
                continue
            high, un_allowed = spec
            if value == NIHSS_UNTESTABLE:
                if not un_allowed:
                    out.append((items_field, _("NIHSS item %(item)s: 'UN' is not allowed for this item "
                                               "(allowed 0–%(high)s), found UN.") % {"item": item, "high": high}))
                continue
            try:
                score = int(value)
            except (TypeError, ValueError):
                score = None
            if score is None or str(value).strip() not in {str(score)} or not 0 <= score <= high:
                out.append((items_field, item_out_of_range(item, high, un_allowed, value)))
        return out

    return test


def nihss_item_fields(prefix: str):
    """Forms that store each NIHSS item in its own field ("{prefix}_i1a" … "{prefix}_i11"; UN
    is a separate yes/no field there, so a score field holds a number or nothing)."""

    def test(data, ctx):
        out = []
        for item, (high, un_allowed) in NIHSS_ITEMS.items():
            name = f"{prefix}_i{item}"
            value = data.get(name)
            if value is None or value == "":
                continue
            score = _dec(value)
            if score is None or score != int(score) or not 0 <= score <= high:
                out.append((name, item_out_of_range(item, high, un_allowed, value)))
        return out

    return test


def nihss_un_scored(prefix: str):
    """Soft (issue 17): an item marked UN that also carries a score. Saved (the total counts UN
    as 0) and queried: the site confirms UN or removes it, keeping the score."""

    def test(data, ctx):
        out = []
        for item, (_high, un_allowed) in NIHSS_ITEMS.items():
            if not un_allowed or not data.get(f"{prefix}_i{item}_un"):
                continue
            score = data.get(f"{prefix}_i{item}")
            if score not in (None, ""):
                out.append((f"{prefix}_i{item}", _("Item %(item)s is marked UN and also scored %(score)s; the "
                                                   "total counts it as UN (0): confirm UN, or remove UN and keep "
                                                   "the score.") % {"item": item, "score": score}))
        return out

    return test


def nihss_un_explained(prefix: str):
    """Hard: an item scored UN needs its written explanation (SCALES.md)."""

    def test(data, ctx):
        used = any(un_allowed and data.get(f"{prefix}_i{item}_un") for item, (_h, un_allowed) in NIHSS_ITEMS.items())
        if used and f"{prefix}_un_explanation" in data and not str(data.get(f"{prefix}_un_explanation") or "").strip():
            return [(f"{prefix}_un_explanation", _("An item scored UN needs a written explanation; none was given."))]
        return None

    return test


# The chain of SPEC §8: last known well ≤ arterial puncture ≤ randomization ≤ reperfusion.
TIME_CHAIN = (
    ("last_known_well", _("last known well")),
    ("arterial_puncture_at", _("arterial puncture")),
    ("randomized_at", _("randomization")),
    ("first_reperfusion_at", _("reperfusion")),
    ("procedure_end_at", _("end of procedure")),
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
                tz = zoneinfo.ZoneInfo(ctx.site_time_zone)
                out.append((where, _("%(later)s (%(later_at)s %(zone)s) is before %(earlier)s (%(earlier_at)s); "
                                     "%(later)s must follow %(earlier)s (the same time or later).") % {
                    "later": l2, "later_at": f"{v2.astimezone(tz):%Y-%m-%d %H:%M}", "zone": tz.key,
                    "earlier": l1, "earlier_at": f"{v1.astimezone(tz):%Y-%m-%d %H:%M}"}))
        return out

    return test


def discharge_mrs_not_better(mrs_field: str):
    """A discharge mRS better (lower) than the pre-stroke mRS is unusual after a stroke."""

    def test(data, ctx):
        discharge, prestroke = data.get(mrs_field), ctx.baseline.get("prestroke_mrs")
        if discharge is None or prestroke is None or discharge == "" or int(discharge) >= int(prestroke):
            return None
        return [(mrs_field, _("mRS at discharge (%(discharge)s) is better than the pre-stroke mRS "
                              "(%(prestroke)s); please confirm.") % {"discharge": discharge, "prestroke": prestroke})]

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
            op, criterion = ">", P.CREATININE_CRITERION
        else:
            op, limit, unit, criterion = LAB_THRESHOLDS[lab]
            if not (value < limit if op == "<" else value > limit):
                return None
        unit = f" {unit}" if unit else ""
        return [(lab, _("%(lab)s %(value)s%(unit)s arrived after enrollment and breaches the eligibility "
                        "threshold (%(op)s %(limit)s%(unit)s excludes, %(criterion)s): protocol deviation.") % {
            "lab": LAB_LABELS[lab], "value": value, "unit": unit, "op": op, "limit": limit, "criterion": criterion})]

    return test


def lab_pending_under_attestation(lab: str):
    """SPEC §4 [decision]: a lab pending under the investigator's attestation opens a query
    until its result is entered (the eligibility verdict carries the matching warning)."""

    def test(data, ctx):
        if data.get(f"{lab}_pending") and data.get("lab_pending_attested"):
            return [(lab, _("%(lab)s pending under the investigator's attestation: enter the result "
                            "when it arrives (a value beyond the eligibility threshold is a protocol "
                            "deviation).") % {"lab": LAB_LABELS[lab]})]
        return None

    return test


def in_range(name: str, low, high, label=None):
    """`label`: the field's name in words (a Message); the field's code otherwise."""

    def test(data, ctx):
        value = _dec(data.get(name))
        if value is None or Decimal(str(low)) <= value <= Decimal(str(high)):
            return None
        return [(name, _("%(field)s: allowed %(low)s–%(high)s, found %(value)s.") % {
            "field": label if label is not None else name, "low": low, "high": high, "value": value})]

    return test


def hard(code, field_name, rule, test) -> Check:
    return Check(code=code, field=field_name, severity=HARD, rule=rule, test=test)


def soft(code, field_name, rule, test, deviation=False) -> Check:
    return Check(code=code, field=field_name, severity=SOFT, rule=rule, test=test, deviation=deviation)


def rule(code: str, field_name: str, severity: str, text: str, fn, deviation: bool = False) -> Check:
    """A check written as one function (data, ctx) -> message or None, on one field."""

    def test(data, ctx):
        message = fn(data, ctx)
        return [(field_name, message)] if message else None

    return Check(code=code, field=field_name, severity=severity, rule=text, test=test, deviation=deviation)


def checks_for(code: str) -> tuple[Check, ...]:
    """The checks a form declares in its registry entry (core.crf)."""
    from core import crf as registry

    return tuple(registry.get(code).checks)


def run(code_or_checks, data: Mapping[str, Any], ctx: Context | None = None) -> Result:
    """Run every check of a form (its code, or the checks themselves) on `data`."""
    ctx = ctx or Context()
    checks = checks_for(code_or_checks) if isinstance(code_or_checks, str) else code_or_checks
    result = Result()
    for check in checks:
        for field_name, message in check.test(data, ctx) or ():
            failure = Failure(check=check.code, field=field_name, severity=check.severity,
                              message=str(message), rule=str(check.rule), deviation=check.deviation,
                              source=message if isinstance(message, Message) else None)
            (result.hard if check.severity == HARD else result.soft).append(failure)
    return result
