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
    nihss_rule,
    nihss_un_explained,
    nihss_un_scored,
    rule,
    soft,
    time_order,
)
from datamanagement.messages import Message
from datamanagement.messages import lazy as _
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
                    out.append((name, _("must not be before randomization (%(t0)s); found %(found)s.") % {
                        "t0": _local(ctx, ctx.randomized_at), "found": _local(ctx, value)}))
            elif isinstance(value, dt.date) and value < t0_day:
                out.append((name, _("must not be before the day of randomization (%(day)s); found %(found)s.") % {
                    "day": str(t0_day), "found": str(value)}))
        return out

    return test


def window_text(visit: str) -> Message:
    """The visit's window in words (its numbers from core.protocol.VISITS)."""
    msgid, numbers = P.VISIT_RULES[visit].text_msgid
    return Message(msgid, **numbers)


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
            return [(field_name, _("%(visit)s at T0%(hours)s h (%(local)s) is outside its window %(window)s.") % {
                "visit": visit, "hours": f"{hours:+.1f}", "local": _local(ctx, when), "window": window_text(visit)})]
        day = schedule.day_number(ctx.randomized_at, ctx.site_time_zone, when)
        if visit_rule.first <= day <= visit_rule.last:
            return None
        return [(field_name, _("%(visit)s on study day %(day)s is outside its window %(window)s.") % {
            "visit": visit, "day": day, "window": window_text(visit)})]

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
        return _("%(later)s (%(a)s) is before %(earlier)s (%(b)s) recorded on another form; please check.") % {
            "later": later_label, "a": str(a), "earlier": earlier_label, "b": str(b)}

    return fn


NIHSS_RULE = nihss_rule()
UN_SCORED_RULE = _("an item marked UN has no score (a score beside UN is queried)")
UN_EXPLAINED_RULE = _("an item scored UN needs a written explanation")


def nihss_checks(prefix: str, suffix: str = "") -> list:
    return [
        hard(f"NIHSS_ITEM_RANGE{suffix}", f"{prefix}_i1a", NIHSS_RULE, nihss_item_fields(prefix)),
        # Soft (issue 17): a score beside UN is saved and queried; the site confirms either.
        soft(f"NIHSS_UN{suffix}", f"{prefix}_i1a", UN_SCORED_RULE, nihss_un_scored(prefix)),
        hard(f"NIHSS_UN_EXPLANATION{suffix}", f"{prefix}_un_explanation", UN_EXPLAINED_RULE,
             nihss_un_explained(prefix)),
    ]


_MRS_RULE = _("mRS 0–%(max)s") % {"max": P.MRS_MAX}
_ORDER_RULE = _("last known well ≤ arterial puncture ≤ randomization ≤ reperfusion ≤ end of procedure")
_T0_RULE = _("not before randomization")

PROCEDURE = (
    hard("TIME_ORDER", "first_reperfusion_at", _ORDER_RULE, time_order()),
)

PASS = (
    hard("NOT_BEFORE_T0", "at", _("a pass after randomization is not before it"), not_before_t0("at")),
)

V2 = (
    *nihss_checks("nihss"),
    hard("NOT_BEFORE_T0", "assessed_at", _T0_RULE, not_before_t0("assessed_at")),
    soft("VISIT_WINDOW", "assessed_at", _("%(visit)s within %(window)s") % {"visit": "V2", "window": window_text("V2")},
         visit_window("V2", "assessed_at")),
)


def _no_ich_but_classes(data, ctx):
    classes = [f for f, _l in HEIDELBERG_FIELDS.values() if data.get(f)]
    if data.get("new_ich") is False and classes:
        return _("No new ICH is recorded, yet Heidelberg classes are ticked; correct one of them.")
    return None


V3 = (
    *nihss_checks("before"),
    *nihss_checks("worse", "_WORSE"),
    hard("NOT_BEFORE_T0", "imaging_at", _T0_RULE, not_before_t0("imaging_at", "worsening_at")),
    rule("ICH_CLASSES", "new_ich", HARD, _("Heidelberg classes only with a new ICH"), _no_ich_but_classes),
    soft("VISIT_WINDOW", "imaging_at", _("%(visit)s within %(window)s") % {"visit": "V3", "window": window_text("V3")},
         visit_window("V3", "imaging_at")),
)

V4 = (
    *nihss_checks("nihss"),
    hard("NOT_BEFORE_T0", "assessed_on", _T0_RULE, not_before_t0("assessed_on", "discharge_on")),
    hard("MRS_RANGE", "mrs_discharge", _MRS_RULE, in_range("mrs_discharge", 0, P.MRS_MAX, _("mRS at discharge"))),
    soft("DISCHARGE_MRS_BETTER", "mrs_discharge", _("mRS at discharge not better than pre-stroke mRS"),
         discharge_mrs_not_better("mrs_discharge")),
    soft("VISIT_WINDOW", "assessed_on", _("%(visit)s within %(window)s") % {"visit": "V4", "window": window_text("V4")},
         visit_window("V4", "assessed_on")),
    rule("DATE_ORDER", "assessed_on", SOFT, _("the day-7 visit is not before the 24-hour visit"),
         _after_each_other("assessed_on", _("The day-7 assessment"), "V2_24H", "assessed_at",
                           _("the 24-hour assessment"))),
)


def _blinding_attested(data, ctx):
    if "blinded_attested" not in data:
        return None
    if not data.get("blinded_attested") and not str(data.get("breach_reference") or "").strip() \
            and data.get("source", "assessment") == "assessment":
        return _("Attest that you remained blinded, or give the blinding-breach report reference; "
                 "neither was given.")
    return None


def _mrs6_needs_death_date(data, ctx):
    if data.get("mrs") == P.MRS_DEAD and not data.get("death_on") and not _death_date(ctx):
        return _("mRS %(dead)s (dead) needs the date of death (SPEC §6); none was given and no death is "
                 "recorded for this subject.") % {"dead": P.MRS_DEAD}
    return None


def _death_on_only_with_mrs6(data, ctx):
    if data.get("death_on") and data.get("mrs") not in (None, "", P.MRS_DEAD):
        return _("A date of death is given, but the mRS is %(mrs)s; a death means mRS %(dead)s.") % {
            "mrs": data.get("mrs"), "dead": P.MRS_DEAD}
    return None


def _mrs6_without_death_record(data, ctx):
    if data.get("mrs") == P.MRS_DEAD and "DEATH" in ctx.other_forms and not ctx.other_forms.get("DEATH"):
        return _("mRS %(dead)s (dead) at day %(day)s, but no death form is filed for this subject: complete the "
                 "death form (cause, date).") % {"dead": P.MRS_DEAD, "day": P.VISIT_RULES["V5"].target}
    return None


def _death_dates_agree(data, ctx):
    mine, theirs = data.get("death_on"), _death_date(ctx)
    if mine and theirs and mine != theirs:
        return _("The date of death here (%(mine)s) differs from the death form (%(theirs)s).") % {
            "mine": str(mine), "theirs": str(theirs)}
    return None


V5 = (
    hard("MRS_RANGE", "mrs", _MRS_RULE, in_range("mrs", 0, P.MRS_MAX, _("mRS"))),
    hard("NOT_BEFORE_T0", "assessed_on", _T0_RULE, not_before_t0("assessed_on", "death_on")),
    rule("BLINDING_ATTESTED", "blinded_attested", HARD, _("blinding attested or a breach reference given"),
         _blinding_attested),
    rule("MRS6_DEATH_DATE", "death_on", HARD, _("mRS %(dead)s needs the date of death") % {"dead": P.MRS_DEAD},
         _mrs6_needs_death_date),
    rule("DEATH_DATE_MRS", "death_on", HARD, _("a date of death only with mRS %(dead)s") % {"dead": P.MRS_DEAD},
         _death_on_only_with_mrs6),
    soft("DAY90_WINDOW", "assessed_on", _("assessed on day %(first)s–%(last)s after randomization") % {
        "first": P.DAY90_FIRST_DAY, "last": P.DAY90_LAST_DAY}, visit_window("V5", "assessed_on")),
    rule("MRS6_NO_DEATH_RECORD", "mrs", SOFT, _("mRS %(dead)s only with a death form") % {"dead": P.MRS_DEAD},
         _mrs6_without_death_record),
    rule("DEATH_DATE_ORDER", "death_on", SOFT, _("the date of death agrees with the death form"), _death_dates_agree),
)


def _resolved_after_onset(data, ctx):
    if data.get("resolved_on") and data.get("onset_on") and data["resolved_on"] < data["onset_on"]:
        return _("The resolution date must not precede the onset (%(onset)s).") % {"onset": str(data["onset_on"])}
    return None


def _serious_needs_criterion(data, ctx):
    criteria = [k for k in data if k.startswith("sae_") and data[k]]
    if data.get("serious") and not criteria:
        return _("A serious adverse event needs at least one seriousness criterion; none is ticked.")
    return None


AE = (
    rule("AE_DATE_ORDER", "resolved_on", HARD, _("resolution not before onset"), _resolved_after_onset),
    rule("SAE_CRITERION", "serious", HARD, _("a serious event names a seriousness criterion"),
         _serious_needs_criterion),
)

DEATH = (
    hard("NOT_BEFORE_T0", "died_on", _T0_RULE, not_before_t0("died_on")),
)

EXIT = (
    hard("NOT_BEFORE_T0", "exit_on", _T0_RULE, not_before_t0("exit_on")),
)
