"""One exception per domain failure of central adjudication; messages name the field and the
rule, and are shown to users as they are."""

from adjudication.protocol import InvalidRead  # noqa: F401  (re-exported: a read's values break a rule)


class AdjudicationError(Exception):
    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class UploadRefused(AdjudicationError):
    """The file is too large, of a type not accepted here, or still identifies the patient."""


class CaseNotAvailable(AdjudicationError):
    """The case has no free read for this reader (final, both reads taken, own site, read before)."""


class ReadLocked(AdjudicationError):
    """A final read is never changed."""


class NotYourRead(AdjudicationError):
    """Only the reader who claimed a read saves it."""


class InvalidCutOff(AdjudicationError):
    """The DSMB data cut-off is not a past date and time."""
