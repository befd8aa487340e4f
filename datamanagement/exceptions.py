"""One exception per data-management failure; messages say what was expected and found."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _


class DataManagementError(Exception):
    """Base class: views show str(exc) to the user in plain words."""


class DataLocked(DataManagementError, PermissionDenied):
    """Also a PermissionDenied, so a view that does not catch it answers 403, never 500."""

    def __init__(self, lock):
        if isinstance(lock, str):
            # Mixed into another app's exception (e.g. followup's FormLocked) whose __init__
            # has already built the message and set .lock.
            Exception.__init__(self, lock)
            return
        self.lock = lock
        if lock.level == "database":
            what = _("The database is locked")
        elif lock.level == "subject":
            what = _("Subject %(s)s is locked") % {"s": lock.object_label or lock.subject_id}
        else:
            what = _("This form (%(f)s) is locked") % {"f": f"{lock.crf_code} {lock.object_label}"}
        super().__init__(_("%(what)s since %(when)s UTC; the data are read-only. Ask a data manager "
                           "to unlock it, with a reason.") % {"what": what,
                                                             "when": f"{lock.locked_at:%Y-%m-%d %H:%M}"})


class ReasonRequired(DataManagementError):
    def __init__(self, fields):
        self.fields = list(fields)
        super().__init__(_("Reason for change: a reason is required to change data already saved "
                           "(changed: %(fields)s).") % {"fields": ", ".join(self.fields)})


class EditCheckFailed(DataManagementError):
    """Hard edit checks refused the save; `failures` name the field and rule of each."""

    def __init__(self, failures):
        self.failures = list(failures)
        super().__init__("; ".join(f"{f.field}: {f.message}" for f in self.failures))

    def by_field(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for f in self.failures:
            out.setdefault(f.field, []).append(f.message)
        return out


class StaleVersion(DataManagementError):
    def __init__(self, expected, found):
        super().__init__(_("Someone saved this form meanwhile: you edited version %(e)s, the current "
                           "version is %(f)s. Reload and re-enter your change.") % {"e": expected, "f": found})


class QueryError(DataManagementError):
    pass


class QueryTransitionRefused(QueryError):
    def __init__(self, action, status):
        super().__init__(_("A query that is %(status)s cannot be %(action)s.") % {"status": status,
                                                                                  "action": action})


class SdvError(DataManagementError):
    pass


class SignatureError(DataManagementError):
    pass


class WrongPassword(SignatureError):
    def __init__(self):
        super().__init__(_("Password: the password does not match your account; the signature was not "
                           "applied."))


class LockError(DataManagementError):
    pass
