"""Audit context of a data-management write: each CRF write gets its own pghistory context row (user and reason stay with the change they explain).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pghistory
import pghistory.runtime


@contextlib.contextmanager
def own_audit_context(**metadata) -> Iterator[None]:
    """Give the changes inside their own pghistory context row.

    pghistory groups every change of a request under one context whose metadata is
    overwritten by later entries; two saves with different reasons in one request would
    then both show the last reason. A fresh context id per CRF write keeps each reason (and
    user) with the change it explains.
    """
    tracker = pghistory.runtime._tracker
    parent = getattr(tracker, "value", None)
    if parent is None:
        with pghistory.context(**metadata):
            yield
        return
    tracker.value = pghistory.runtime.Context(id=uuid.uuid4(), metadata={**parent.metadata, **metadata})
    try:
        yield
    finally:
        tracker.value = parent


def actor_metadata(user) -> dict[str, Any]:
    if user is None or not getattr(user, "pk", None):
        return {}
    return {"user": user.pk, "username": user.username}
