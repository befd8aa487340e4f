"""One exception per way a screening action can fail; messages say what was expected and what
was found, and views show them in plain words."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _


class ScreeningError(Exception):
    """Base class: a screening action refused for a domain reason."""


class ScreeningInvalid(ScreeningError):
    """Impossible values (hard edit checks). `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


class ScreeningStale(ScreeningError):
    """Optimistic locking: somebody saved the screening since this user opened it."""

    def __init__(self, *, expected: int, found: int):
        self.expected, self.found = expected, found
        super().__init__(_(
            "The screening was changed by someone else while you edited it (you started from "
            "version %(e)s, it is now version %(f)s). Reload it and enter your change again."
        ) % {"e": expected, "f": found})


class ReasonForChangeRequired(ScreeningError):
    def __init__(self, fields: list[str]):
        self.fields = fields
        super().__init__(_("A reason for change is required when saved values are changed "
                           "(changed: %(f)s).") % {"f": ", ".join(fields)})


class ScreeningClosed(ScreeningError):
    def __init__(self, outcome: str):
        self.outcome = outcome
        super().__init__(_("The screening is no longer open (its outcome is '%(o)s').") % {"o": outcome})


class ScreeningNotEligible(ScreeningError):
    def __init__(self, *, status: str, failed: list[str], missing: list[str]):
        self.status, self.failed, self.missing = status, failed, missing
        detail = ""
        if failed:
            detail = " " + _("Failed criteria: %(c)s.") % {"c": ", ".join(failed)}
        elif missing:
            detail = " " + _("Missing: %(c)s.") % {"c": ", ".join(missing)}
        super().__init__(_("Only an eligible screening can be confirmed; its verdict is '%(s)s'.")
                         % {"s": status} + detail)


class ScreeningAlreadyConfirmed(ScreeningError):
    def __init__(self):
        super().__init__(_("Eligibility of this screening is already confirmed."))


class ScreeningNotConfirmed(ScreeningError):
    def __init__(self):
        super().__init__(_("Eligibility must be confirmed by an investigator first."))


class CloseReasonInvalid(ScreeningError):
    pass


class ScreeningNotPermitted(ScreeningError, PermissionDenied):
    """The user's role or site does not allow this action (shown as 403)."""
