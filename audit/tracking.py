"""How clinical models are tracked.

`@track()` gives a model:
- a pghistory event table filled by PostgreSQL triggers on every INSERT and UPDATE (a snapshot
  of the row plus the context: user, roles, IP, request id, reason for change), made
  append-only at the database level (PGHISTORY_APPEND_ONLY: UPDATE/DELETE raise);
- a trigger that refuses DELETE on the model itself: clinical data is never hard-deleted
  (21 CFR 11.10(e)); records are closed, withdrawn or superseded instead.
"""

import pghistory
import pgtrigger


def track(**kwargs):
    def decorator(model):
        model = pgtrigger.register(
            pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)
        )(model)
        return pghistory.track(**kwargs)(model)

    return decorator
