"""One exception per way a screening action can fail; messages say what was expected and what
was found, and views show them in plain words."""

from django.utils.translation import gettext as _

from core.exceptions import (
    DataLocked,
    DomainError,
    HardCheckFailed,
    NotPermitted,
    ReasonRequired,
    StaleVersion,
)


class ScreeningError(DomainError):
    """Base class: a screening action refused for a domain reason."""


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


class ScreeningNotPermitted(ScreeningError, NotPermitted):
    """The user's role or site does not allow this action (shown as 403)."""


__all__ = [
    "CloseReasonInvalid", "DataLocked", "HardCheckFailed", "ReasonRequired", "ScreeningAlreadyConfirmed",
    "ScreeningClosed", "ScreeningError", "ScreeningNotConfirmed", "ScreeningNotEligible", "ScreeningNotPermitted",
    "StaleVersion",
]
