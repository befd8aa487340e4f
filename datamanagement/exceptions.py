"""One exception per data-management failure; messages say what was expected and found."""

from __future__ import annotations

from django.utils.translation import gettext as _

# The failures every app shares are defined once, in core.exceptions.
from core.exceptions import DataLocked, DomainError, HardCheckFailed, ReasonRequired, StaleVersion


class DataManagementError(DomainError):
    """Base class: views show str(exc) to the user in plain words."""


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


__all__ = [
    "DataLocked", "DataManagementError", "HardCheckFailed", "LockError", "QueryError", "QueryTransitionRefused",
    "ReasonRequired", "SdvError", "SignatureError", "StaleVersion", "WrongPassword",
]
