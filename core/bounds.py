"""Bounds on every clinical value, in one place (SPEC §8: impossible values are refused).

- dates and times: not before 1 January of core.protocol.EARLIEST_YEAR, not in the future
  beyond core.protocol.FUTURE_TOLERANCE (a year-1 date would be stored as a BC timestamp that
  the database driver cannot read back; a day-90 visit in 9999 is impossible);
- text: no NUL byte and no control character (tab and line breaks are text);
- every model field's own validators (item ranges, digits of a decimal, the integer range of
  the column) and its code list, so no stored value can break a later read.

`value_problem` judges one value; `instance_problems` every field of a CRF row. The write
guard (datamanagement.services.crf_write) runs instance_problems on every save of every form;
the forms call value_problem on what was typed so the message shows beside the input.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from core import protocol as P

# C0 controls except tab, line feed, carriage return; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
EARLIEST = dt.date(P.EARLIEST_YEAR, 1, 1)


def earliest_text() -> str:
    return f"{EARLIEST:%Y-%m-%d}"


def _too_early(value) -> str:
    day = value.date() if isinstance(value, dt.datetime) else value
    return _("must be on or after %(earliest)s; found %(found)s.") % {"earliest": earliest_text(),
                                                                     "found": day.isoformat()}  # 0001-01-01


def text_problem(value: str) -> str | None:
    match = _CONTROL.search(value)
    if match is None:
        return None
    char = match.group()
    what = _("a NUL byte") if char == "\x00" else _("a control character (U+%(code)s)") % {"code": f"{ord(char):04X}"}
    return _("text must not contain control characters; found %(what)s.") % {"what": what}


def value_problem(value: Any, *, now: dt.datetime, time_zone: str | dt.tzinfo = "UTC") -> str | None:
    """The rule a value breaks, in words (None: within bounds). Naive datetimes are read in
    `time_zone` (the site's zone, as typed on the form)."""
    tz = zoneinfo.ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    if isinstance(value, dt.datetime):
        if value.year < P.EARLIEST_YEAR:
            return _too_early(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        limit = now + P.FUTURE_TOLERANCE
        if value > limit:
            return _("a time in the future is impossible (now is %(now)s); found %(found)s.") % {
                "now": f"{now.astimezone(tz):%Y-%m-%d %H:%M}", "found": f"{value.astimezone(tz):%Y-%m-%d %H:%M}"}
        return None
    if isinstance(value, dt.date):
        if value.year < P.EARLIEST_YEAR:
            return _too_early(value)
        today = (now + P.FUTURE_TOLERANCE).astimezone(tz).date()
        if value > today:
            return _("a date in the future is impossible (today is %(today)s); found %(found)s.") % {
                "today": str(today), "found": str(value)}
        return None
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, Mapping):
        for k, v in value.items():
            problem = value_problem(str(k), now=now, time_zone=tz) or value_problem(v, now=now, time_zone=tz)
            if problem:
                return problem
    if isinstance(value, list | tuple):
        for v in value:
            problem = value_problem(v, now=now, time_zone=tz)
            if problem:
                return problem
    return None


def field_problem(f: models.Field, value: Any, *, now: dt.datetime, time_zone,
                  validators: bool = True, values_checked: bool = False) -> str | None:
    """Dates, times and text (value_problem); with `validators`, also the field's own range
    validators and code list (validator_problem). `values_checked`: value_problem has already
    passed for this value (the write guard's second pass), only the validators remain."""
    if value is None or value == "":
        return None
    problem = None if values_checked else value_problem(value, now=now, time_zone=time_zone)
    if problem or not validators:
        return problem
    return validator_problem(f, value)


def validator_problem(f: models.Field, value: Any) -> str | None:
    """The field's code list and its own range validators, in words (None: the value passes)."""
    if f.choices and not isinstance(value, list | dict):
        allowed = {str(k) for k, _label in f.flatchoices}
        if str(value) not in allowed:
            return _("must be one of %(allowed)s; found %(found)s.") % {"allowed": ", ".join(sorted(allowed)),
                                                                        "found": repr(value)}
    try:
        f.run_validators(f.to_python(value))
    except ValidationError as exc:
        return " ".join(str(m) for m in exc.messages)
    except (TypeError, ValueError, ArithmeticError) as exc:  # a value of the wrong kind
        return _("not a valid value for this field (%(error)s).") % {"error": exc}
    return None


def instance_problems(instance: models.Model, field_names, *, now: dt.datetime, time_zone,
                      validators: bool = True, values_checked: bool = False) -> dict[str, str]:
    """{field: rule broken} over the named fields of a model instance."""
    out = {}
    for name in field_names:
        f = instance._meta.get_field(name)
        problem = field_problem(f, getattr(instance, f.attname), now=now, time_zone=time_zone,
                                validators=validators, values_checked=values_checked)
        if problem:
            out[name] = problem
    return out
