"""Domain failures shared by every app that writes clinical data: one exception type per
failure, whichever form or app it happens in (STYLE: "one exception class per domain failure").

Messages say what was expected and what was found, in plain words; views show `str(exc)`
(and `errors`, field by field, beside the inputs of a form). Exceptions that mean "you may
not" are also a PermissionDenied, so a view that does not catch them answers 403, never 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import BadRequest, PermissionDenied
from django.utils.translation import gettext as _


class DomainError(Exception):
    """Base class of every refusal of a domain rule."""


class NotPermitted(DomainError, PermissionDenied):
    """The user's role, site or blinding does not allow this action."""


class HardCheckFailed(DomainError):
    """A hard check refused the save (SPEC §8: the value is impossible); nothing is saved.

    `errors` maps each field to its message (the form shows each beside its input);
    `failures` keeps the edit-check failures (check code, rule) when they came from there.
    """

    def __init__(self, errors: Mapping[str, str] | Iterable = ()):
        if isinstance(errors, Mapping):
            self.failures = []
            self.errors = {str(k): str(v) for k, v in errors.items()}
        else:
            self.failures = list(errors)
            self.errors = {}
            for f in self.failures:
                self.errors[f.field] = f"{self.errors[f.field]} {f.message}" if f.field in self.errors \
                    else f.message
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))

    def by_field(self) -> dict[str, list[str]]:
        if self.failures:
            out: dict[str, list[str]] = {}
            for f in self.failures:
                out.setdefault(f.field, []).append(f.message)
            return out
        return {k: [v] for k, v in self.errors.items()}


class StaleVersion(DomainError):
    """Optimistic locking: someone saved this record since the user opened it.

    `expected` is the version the user started from (None: a new record), `found` the version
    now saved, `current` the saved row when the caller has it (the form shows both versions).
    """

    def __init__(self, *, expected: int | None, found: int | None = None, current=None):
        self.expected, self.current = expected, current
        self.found = found if found is not None else getattr(current, "version", None)
        super().__init__(_(
            "This record was changed by someone else while you edited it: you started from version %(e)s, "
            "the saved version is now %(f)s. Nothing of yours was saved; compare both versions and enter "
            "your change again.")
            % {"e": expected if expected is not None else _("new"), "f": self.found})


class ReasonRequired(DomainError):
    """A change of data saved before needs a reason for change (SPEC §8, 21 CFR 11.10(e))."""

    def __init__(self, fields: Iterable[str] = ()):
        self.fields = [str(f) for f in fields]
        if self.fields:
            message = _("Reason for change: a reason is required to change data already saved "
                        "(changed: %(fields)s).") % {"fields": ", ".join(self.fields)}
        else:
            message = _("Reason for change: a reason is required to change data saved before.")
        super().__init__(message)


class DataLocked(DomainError, PermissionDenied):
    """Locked data (a form, a subject or the database) is read-only for everyone.

    `errors` lets a form show the lock like a hard check (on the "lock" pseudo-field)."""

    def __init__(self, lock, message: str | None = None):
        self.lock = lock
        if message is None:
            if lock.level == "database":
                what = _("The database is locked")
            elif lock.level == "subject":
                what = _("Subject %(s)s is locked") % {"s": lock.object_label or lock.subject_id}
            else:
                what = _("This form (%(f)s) is locked") % {"f": f"{lock.crf_code} {lock.object_label}"}
            message = _("%(what)s since %(when)s UTC; the data are read-only. Ask a data manager to "
                        "unlock it, with a reason.") % {"what": what, "when": f"{lock.locked_at:%Y-%m-%d %H:%M}"}
        self.errors = {"lock": message}
        super().__init__(message)


class QueryClosed(DomainError):
    """A correction through a query that is already closed (the monitor re-opens it first)."""

    def __init__(self, query_id):
        self.query_id = query_id
        super().__init__(_("Query Q%(q)s is closed: a correction through it is refused. Ask the monitor to "
                           "re-open it, or correct the form itself with a reason.") % {"q": query_id})


class BadInput(BadRequest):
    """A request value that is not what the page sent (a hidden version number that is not a
    whole number, a NUL byte): answered with a 400 page naming the field and the rule
    (core.middleware.BadInputMiddleware; Django answers any BadRequest with a 400). Not a
    DomainError: no view shows it inline as if the user had typed it."""

    def __init__(self, field: str, rule: str, found=None):
        self.field, self.rule, self.found = field, rule, found
        super().__init__(_("%(field)s: %(rule)s.") % {"field": field, "rule": rule})
