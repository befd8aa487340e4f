from typing import Any

import pghistory
import pghistory.runtime
from django.db import transaction

from audit.models import AuditEvent


def current_audit_context() -> dict[str, Any]:
    """The request's audit context (ip, request_id, user…) set by the middleware, or {}."""
    ctx = getattr(pghistory.runtime._tracker, "value", None)
    return dict(ctx.metadata) if ctx is not None else {}


def audit_event_record(
    *,
    action: str,
    actor=None,
    site=None,
    obj=None,
    summary: str = "",
    detail: dict[str, Any] | None = None,
    reason: str = "",
    reveals_allocation: bool = False,
    ip: str | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction (so it commits or rolls back with
    the action it records)."""
    ctx = current_audit_context()
    actor_obj = actor if actor is not None and getattr(actor, "pk", None) else None
    return AuditEvent.objects.create(
        action=action,
        actor=actor_obj,
        actor_username=getattr(actor, "username", "") or (actor if isinstance(actor, str) else ""),
        site=site,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary[:500],
        detail=detail or {},
        reason=reason,
        reveals_allocation=reveals_allocation,
        ip=ip or ctx.get("ip"),
        request_id=ctx.get("request_id"),
    )


def change_reason(reason: str):
    """Context manager: every row change inside carries this reason in its audit event."""
    return pghistory.context(reason=reason)


__all__ = ["audit_event_record", "change_reason", "current_audit_context", "transaction"]
