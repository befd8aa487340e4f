"""Locks of a form, a subject or the database, and their release; each audited.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core import crf as registry
from core.roles import Action
from datamanagement.crfs import (
    crf_of,
    label_of,
    site_of,
    subject_of,
)
from datamanagement.exceptions import (
    LockError,
)
from datamanagement.models import (
    Lock,
    LockLevel,
)
from datamanagement.services.context import actor_metadata, own_audit_context


def _lock_create(*, user, level, reason, **target) -> Lock:
    access.require(user, Action.LOCK)
    try:
        with transaction.atomic(), own_audit_context(reason=reason or "lock", **actor_metadata(user)):
            lock = Lock.objects.create(level=level, reason=reason or "", locked_by=user, **target)
    except IntegrityError as exc:
        raise LockError(_("This is already locked.")) from exc
    audit_event_record(action=AuditAction.LOCK, actor=user, site=lock.site, obj=lock,
                       summary=f"Locked {level} {lock.object_label}".strip(), reason=reason or "",
                       reveals_allocation=bool(lock.crf_code) and registry.get(lock.crf_code).reveals_arm)
    return lock


@transaction.atomic(durable=True)
def lock_form(*, user, instance, reason: str = "") -> Lock:
    crf = crf_of(instance)
    return _lock_create(user=user, level=LockLevel.FORM, reason=reason, crf_code=crf.code,
                        db_table=crf.model._meta.db_table, object_id=instance.pk,
                        object_label=f"{label_of(instance)} {crf.label}", subject=subject_of(instance),
                        site=site_of(instance))


@transaction.atomic(durable=True)
def lock_subject(*, user, subject, reason: str = "") -> Lock:
    return _lock_create(user=user, level=LockLevel.SUBJECT, reason=reason, subject=subject,
                        object_label=subject.number, site=subject.site)


@transaction.atomic(durable=True)
def lock_database(*, user, reason: str) -> Lock:
    if not (reason or "").strip():
        raise LockError(_("Reason: say why the database is locked (e.g. final analysis)."))
    return _lock_create(user=user, level=LockLevel.DATABASE, reason=reason, object_label="database")


@transaction.atomic(durable=True)
def lock_release(*, user, lock: Lock, reason: str) -> Lock:
    """Unlock: a data manager, with a reason; audited."""
    access.require(user, Action.LOCK)
    if not (reason or "").strip():
        raise LockError(_("Reason: a reason is required to unlock."))
    # Race prevented: two data managers unlocking the same lock at once both recording it.
    lock = Lock.objects.select_for_update(no_key=True).get(pk=lock.pk)
    if not lock.active:
        raise LockError(_("This lock was already lifted."))
    lock.active = False
    lock.unlocked_by, lock.unlocked_at, lock.unlock_reason = user, timezone.now(), reason.strip()
    with own_audit_context(reason=reason.strip(), **actor_metadata(user)):
        lock.save()
    audit_event_record(action=AuditAction.LOCK, actor=user, site=lock.site, obj=lock,
                       summary=f"Unlocked {lock.level} {lock.object_label}".strip(), reason=reason.strip())
    return lock
