"""Domain failures of the follow-up CRFs, each with a message that says what was expected and
what was found (shown to users in plain words, never a 500)."""

from __future__ import annotations


class FollowupError(Exception):
    pass


class HardCheckFailed(FollowupError):
    """An impossible value: nothing is saved; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class StaleVersion(FollowupError):
    """Optimistic lock: somebody saved this form since the user opened it."""

    def __init__(self, *, current, expected: int | None):
        self.current = current
        self.expected = expected
        found = getattr(current, "version", None)
        super().__init__(
            f"This form was saved by someone else while you edited it: you opened version "
            f"{expected or 'new'}, the saved version is now {found}. Nothing of yours was saved; "
            f"compare both versions and save again."
        )


class ReasonRequired(FollowupError):
    def __init__(self):
        super().__init__("Reason for change: a reason is required to change data saved before.")


class NotPermitted(FollowupError):
    pass


class SubjectOffStudy(FollowupError):
    pass
