"""One exception per domain failure of randomization. Messages say what was expected and
what was found, in words a coordinator at the table can act on — and never name an arm or
reveal anything about the allocation list. Locked data is the shared core.exceptions.DataLocked."""

from core.exceptions import DomainError
from core.exceptions import NotPermitted as _NotPermitted


class RandomizationError(DomainError):
    """Base class: the view shows `str(exc)` to the user."""


class NotPermitted(RandomizationError, _NotPermitted):
    pass


class NotEligible(RandomizationError):
    pass


class NotConfirmed(RandomizationError):
    pass


class NoConsent(RandomizationError):
    pass


class AlreadyRandomized(RandomizationError):
    def __init__(self, message: str, allocation=None):
        super().__init__(message)
        self.allocation = allocation


class AllocationListExhausted(RandomizationError):
    pass


class AllocationListError(RandomizationError):
    """Generating, importing or activating a list was refused (message says why)."""


class BreachReportError(RandomizationError):
    pass


class SimulationError(RandomizationError):
    """Parameters of a simulation outside their rules (the message names the field)."""
