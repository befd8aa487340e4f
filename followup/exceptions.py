"""Domain failures of the follow-up CRFs, each with a message that says what was expected and
what was found (shown to users in plain words, never a 500). Hard checks, stale versions,
missing reasons and locks are the shared types of core.exceptions."""

from __future__ import annotations

from core.exceptions import DataLocked, DomainError, HardCheckFailed, ReasonRequired, StaleVersion
from core.exceptions import NotPermitted as _NotPermitted


class FollowupError(DomainError):
    pass


class NotPermitted(FollowupError, _NotPermitted):
    pass


class SubjectOffStudy(FollowupError):
    pass


__all__ = ["DataLocked", "FollowupError", "HardCheckFailed", "NotPermitted", "ReasonRequired", "StaleVersion",
           "SubjectOffStudy"]
