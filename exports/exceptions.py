"""One exception per way an export request can fail; messages say what was expected and found."""

from django.core.exceptions import PermissionDenied


class ExportError(Exception):
    pass


class ExportNotPermitted(ExportError, PermissionDenied):
    """The user may not have this export (role, site or blinding)."""


class ExportInvalid(ExportError, ValueError):
    """The request names an unknown format, form or site, or none at all."""


class ExportNotReady(ExportError):
    """A download was asked for an export that has not finished."""
