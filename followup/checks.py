"""The edit checks of the follow-up forms (SPEC §6, §8), declared once and attached to each
form's registry entry (core.crf: CRF.checks) by followup.apps. The one write guard
(datamanagement.services.crf_write) runs them on every save of the form, whatever the path:
first entry, edit, query correction, import or seeding.

Pure: a check sees the values being saved and the subject's facts in the check context
(T0, site zone, the screening values, other forms of the subject); numbers from core.protocol.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from core import protocol as P
from datamanagement.editchecks import (
    HARD,
    SOFT,
    discharge_mrs_not_better,
    hard,
    in_range,
    nihss_item_fields,
    nihss_untestable_fields,
    rule,
    soft,
    time_order,
)
from followup import schedule
from followup.models import HEIDELBERG_FIELDS


def _tz(ctx):
    return zoneinfo.ZoneInfo(ctx.site_time_zone)


def _local(ctx, value: dt.datetime) -> str:
    return f"{value.astimezone(_tz(ctx)):%Y-%m-%d %H:%M}"


def not_before_t0(*fields: str):
    """No visit or event time before randomization (a date: not before the day of T0)."""

    def test(data, ctx):
        if ctx.randomized_at is None:
            return None
        t0_day = ctx.randomized_at.astimezone(_tz(ctx)).date()
        out = []
        for name in fields:
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                if value < ctx.randomized_at:
                    out.append((name, f"must not be before randomization ({_local(ctx, ctx.randomized_at)}); "
                                      f"found {_local(ctx, value)}."))
            elif isinstance(value, dt.date) and value < t0_day:
                out.append((name, f"must not be before the day of randomization ({t0_day}); found {value}."))
        return out

    return test


def visit_window(visit: str, field_name: str):
    """Soft (SPEC §8): a visit outside its window (core.protocol.VISITS) is saved and queried."""
    visit_rule = P.VISIT_RULES[visit]

    def test(data, ctx):
        when = data.get(field_name)
        if when is None or ctx.randomized_at is None:
            return None
        window = schedule.visit_window(visit, ctx.randomized_at, ctx.site_time_zone)
        if isinstance(when, dt.datetime):
            if window.contains(when):
                return None
            hours = (when - ctx.randomized_at).total_seconds() / 3600
            return [(field_name, f"{visit} at T0{hours:+.1f} h ({_local(ctx, when)}) is outside its window "
                                 f"{visit_rule.text}.")]
        day = schedule.day_number(ctx.randomized_at, ctx.site_time_zone, when)
        if visit_rule.first <= day <= visit_rule.last:
            return None
        return [(field_name, f"{visit} on study day {day} is outside its window {visit_rule.text}.")]

    return test


def _death_date(ctx):
    return (ctx.other_forms.get("DEATH") or {}).get("died_on")


def _after_each_other(later: str, later_label: str, form: str, earlier: str, earlier_label: str):
    """Soft: dates in order across forms (a date of this form not before one of another form)."""

    def fn(data, ctx):
        mine, theirs = data.get(later), (ctx.other_forms.get(form) or {}).get(earlier)
        if mine is None or theirs is None:
            return None
        a = mine.astimezone(_tz(ctx)).date() if isinstance(mine, dt.datetime) else mine
        b = theirs.astimezone(_tz(ctx)).date() if isinstance(theirs, dt.datetime) else theirs
        if a >= b:
            return None
        return f"{later_label} ({a}) is before {earlier_label} ({b}) recorded on another form; please check."

    return fn


NIHSS_RULE = P.NIHSS_RULE
UN_RULE = "an item marked UN has no score, and UN needs a written explanation"


def nihss_checks(prefix: str, suffix: str = "") -> list:
    return [
        hard(f"NIHSS_ITEM_RANGE{suffix}", f"{prefix}_i1a", NIHSS_RULE, nihss_item_fields(prefix)),
        hard(f"NIHSS_UN{suffix}", f"{prefix}_i1a", UN_RULE, nihss_untestable_fields(prefix)),
    ]


_ORDER_RULE = "last known well ≤ arterial puncture ≤ randomization ≤ reperfusion ≤ end of procedure"
_T0_RULE = "not before randomization"

PROCEDURE = (
    hard("TIME_ORDER", "first_reperfusion_at", _ORDER_RULE, time_order()),
)

PASS = (
    hard("NOT_BEFORE_T0", "at", "a pass after randomization is not before it", not_before_t0("at")),
)

V2 = (
    *nihss_checks("nihss"),
    hard("NOT_BEFORE_T0", "assessed_at", _T0_RULE, not_before_t0("assessed_at")),
    soft("VISIT_WINDOW", "assessed_at", f"V2 within {P.VISIT_RULES['V2'].text}", visit_window("V2", "assessed_at")),
)


def _no_ich_but_classes(data, ctx):
    classes = [f for f, _l in HEIDELBERG_FIELDS.values() if data.get(f)]
    if data.get("new_ich") is False and classes:
        return "No new ICH is recorded, yet Heidelberg classes are ticked; correct one of them."
    return None


V3 = (
    *nihss_checks("before"),
    *nihss_checks("worse", "_WORSE"),
    hard("NOT_BEFORE_T0", "imaging_at", _T0_RULE, not_before_t0("imaging_at", "worsening_at")),
    rule("ICH_CLASSES", "new_ich", HARD, "Heidelberg classes only with a new ICH", _no_ich_but_classes),
    soft("VISIT_WINDOW", "imaging_at", f"V3 within {P.VISIT_RULES['V3'].text}", visit_window("V3", "imaging_at")),
)

V4 = (
    *nihss_checks("nihss"),
    hard("NOT_BEFORE_T0", "assessed_on", _T0_RULE, not_before_t0("assessed_on", "discharge_on")),
    hard("MRS_RANGE", "mrs_discharge", f"mRS 0–{P.MRS_MAX}", in_range("mrs_discharge", 0, P.MRS_MAX)),
    soft("DISCHARGE_MRS_BETTER", "mrs_discharge", "mRS at discharge not better than pre-stroke mRS",
         discharge_mrs_not_better("mrs_discharge")),
    soft("VISIT_WINDOW", "assessed_on", f"V4 within {P.VISIT_RULES['V4'].text}", visit_window("V4", "assessed_on")),
    rule("DATE_ORDER", "assessed_on", SOFT, "the day-7 visit is not before the 24-hour visit",
         _after_each_other("assessed_on", "The day-7 assessment", "V2_24H", "assessed_at", "the 24-hour assessment")),
)


def _blinding_attested(data, ctx):
    if "blinded_attested" not in data:
        return None
    if not data.get("blinded_attested") and not str(data.get("breach_reference") or "").strip() \
            and data.get("source", "assessment") == "assessment":
        return ("Attest that you remained blinded, or give the blinding-breach report reference; "
                "neither was given.")
    return None


def _mrs6_needs_death_date(data, ctx):
    if data.get("mrs") == P.MRS_DEAD and not data.get("death_on") and not _death_date(ctx):
        return (f"mRS {P.MRS_DEAD} (dead) needs the date of death (SPEC §6); none was given and no death is "
                "recorded for this subject.")
    return None


def _death_on_only_with_mrs6(data, ctx):
    if data.get("death_on") and data.get("mrs") not in (None, "", P.MRS_DEAD):
        return f"A date of death is given, but the mRS is {data.get('mrs')}; a death means mRS {P.MRS_DEAD}."
    return None


def _mrs6_without_death_record(data, ctx):
    if data.get("mrs") == P.MRS_DEAD and "DEATH" in ctx.other_forms and not ctx.other_forms.get("DEATH"):
        return (f"mRS {P.MRS_DEAD} (dead) at day 90, but no death form is filed for this subject: complete the "
                "death form (cause, date).")
    return None


def _death_dates_agree(data, ctx):
    mine, theirs = data.get("death_on"), _death_date(ctx)
    if mine and theirs and mine != theirs:
        return f"The date of death here ({mine}) differs from the death form ({theirs})."
    return None


V5 = (
    hard("MRS_RANGE", "mrs", f"mRS 0–{P.MRS_MAX}", in_range("mrs", 0, P.MRS_MAX)),
    hard("NOT_BEFORE_T0", "assessed_on", _T0_RULE, not_before_t0("assessed_on", "death_on")),
    rule("BLINDING_ATTESTED", "blinded_attested", HARD, "blinding attested or a breach reference given",
         _blinding_attested),
    rule("MRS6_DEATH_DATE", "death_on", HARD, f"mRS {P.MRS_DEAD} needs the date of death", _mrs6_needs_death_date),
    rule("DEATH_DATE_MRS", "death_on", HARD, f"a date of death only with mRS {P.MRS_DEAD}", _death_on_only_with_mrs6),
    soft("DAY90_WINDOW", "assessed_on", f"assessed on day {P.DAY90_FIRST_DAY}–{P.DAY90_LAST_DAY} after randomization",
         visit_window("V5", "assessed_on")),
    rule("MRS6_NO_DEATH_RECORD", "mrs", SOFT, f"mRS {P.MRS_DEAD} only with a death form", _mrs6_without_death_record),
    rule("DEATH_DATE_ORDER", "death_on", SOFT, "the date of death agrees with the death form", _death_dates_agree),
)


def _resolved_after_onset(data, ctx):
    if data.get("resolved_on") and data.get("onset_on") and data["resolved_on"] < data["onset_on"]:
        return f"The resolution date must not precede the onset ({data['onset_on']})."
    return None


def _serious_needs_criterion(data, ctx):
    criteria = [k for k in data if k.startswith("sae_") and data[k]]
    if data.get("serious") and not criteria:
        return "A serious adverse event needs at least one seriousness criterion; none is ticked."
    return None


AE = (
    rule("AE_DATE_ORDER", "resolved_on", HARD, "resolution not before onset", _resolved_after_onset),
    rule("SAE_CRITERION", "serious", HARD, "a serious event names a seriousness criterion", _serious_needs_criterion),
)

DEATH = (
    hard("NOT_BEFORE_T0", "died_on", _T0_RULE, not_before_t0("died_on")),
)

EXIT = (
    hard("NOT_BEFORE_T0", "exit_on", _T0_RULE, not_before_t0("exit_on")),
)
