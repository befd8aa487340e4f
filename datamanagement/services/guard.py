"""The CRF write guard every form save goes through (see datamanagement.services).

Before the save it checks the lock, the optimistic version, the reason for change (required
for any change after the first save) and the hard edit checks; the save runs under its own
audit context carrying user and reason; after the save it opens queries for soft edit checks,
clears the SDV of changed fields and breaks signatures that covered the changed data. All in
the caller's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop
from psycopg.types.json import Jsonb

from audit.models import AuditAction
from audit.services import audit_event_record
from core import bounds
from core import crf as registry
from datamanagement import editchecks, upkeep
from datamanagement.crfs import (
    crf_of,
    display,
    field_label,
    field_names,
    jsonable,
    site_of,
    subject_of,
    values_of,
)
from datamanagement.exceptions import (
    DataLocked,
    HardCheckFailed,
    ReasonRequired,
    StaleVersion,
)
from datamanagement.locks import assert_unlocked, lock_from_error, trigger_checks_every_lock
from datamanagement.messages import Message, stored
from datamanagement.models import (
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
    SignatureScope,
)
from datamanagement.services.context import actor_metadata, own_audit_context
from datamanagement.services.queries import notify_query_opened
from datamanagement.services.sdv import sdv_clear_reasons
from datamanagement.services.signatures import signatures_break_reason


@dataclass
class CrfWrite:
    """What crf_write learned; filled in as the write proceeds."""

    crf: registry.CRF
    first_save: bool
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    soft: list[editchecks.Failure] = field(default_factory=list)
    queries_opened: list[Query] = field(default_factory=list)
    sdv_cleared: int = 0
    signatures_broken: int = 0


_UNKNOWN = object()


def check_context(instance, crf: registry.CRF, previous: dict | None, subject=_UNKNOWN,
                  now=None) -> editchecks.Context:
    """Facts about the subject that edit checks need (ORM side of the pure editchecks): T0,
    the site's zone, the screening values, and the forms the checks compare with
    (CRF.context_forms: their values, or {} when the subject has no such form yet)."""
    if subject is _UNKNOWN:
        subject = subject_of(instance)
    baseline: dict[str, Any] = {}
    if crf.visit == "V0" or not crf.subject_field:
        baseline = values_of(instance, crf)
    elif subject is not None and any(registry.get(c).visit == "V0" for c in crf.context_forms):
        # The screening values, for the checks of forms that compare with them (date order,
        # pre-stroke mRS): declared in CRF.context_forms.
        for other, rows in instances_of_subject_baseline(subject):
            if rows:
                baseline = values_of(rows[0], other)
                break
    site = subject.site if subject is not None else site_of(instance)
    enrolled = subject is not None or getattr(instance, "outcome", None) == "randomized"
    other_forms: dict[str, dict] = {}
    if subject is not None:
        for code in crf.context_forms:
            other = registry.get(code)
            if other.visit == "V0":
                continue  # the baseline above
            row = other.model.objects.filter(**{other.subject_field: subject}).first()
            other_forms[code] = values_of(row, other) if row is not None else {}
    return editchecks.Context(
        previous=previous,
        randomized_at=subject.randomized_at if subject is not None else None,
        site_time_zone=site.time_zone,
        baseline=baseline,
        enrolled=enrolled,
        other_forms=other_forms,
        now=now or timezone.now(),
    )


def check_values(instance) -> dict[str, Any]:
    """What the checks read: every column of the row by field name (foreign keys as ids),
    derived and workflow fields included (e.g. the day-90 form's source)."""
    return {f.name: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


BOUNDS_RULE = Message(gettext_noop("dates from %(earliest)s and not in the future; no control characters in text; "
                                   "each value within its field's range and code list"),
                      earliest=bounds.earliest_text())


def bounds_failures(instance, crf: registry.CRF, *, now, time_zone, validators: bool = False,
                    skip=(), values_checked: bool = False) -> list[editchecks.Failure]:
    names = [n for n in field_names(crf) if n not in skip]
    problems = bounds.instance_problems(instance, names, now=now, time_zone=time_zone, validators=validators,
                                        values_checked=values_checked)
    return [editchecks.Failure(check="BOUNDS", field=name, severity=editchecks.HARD, message=message,
                               rule=str(BOUNDS_RULE)) for name, message in problems.items()]


def run_checks(instance, crf: registry.CRF, ctx: editchecks.Context) -> editchecks.Result:
    """Dates, times and text within bounds first (a value out of bounds is refused before any
    rule reads it), then the form's hard and soft checks (CRF.checks), then each remaining
    field's own range and code list."""
    failures = bounds_failures(instance, crf, now=ctx.now, time_zone=ctx.site_time_zone)
    if failures:
        return editchecks.Result(hard=failures)
    result = editchecks.run(crf.checks, check_values(instance), ctx)
    result.hard.extend(bounds_failures(instance, crf, now=ctx.now, time_zone=ctx.site_time_zone, validators=True,
                                       skip={f.field for f in result.hard}, values_checked=True))
    return result


def instances_of_subject_baseline(subject):
    from datamanagement.crfs import _unkeyed_rows_of_subject

    for crf in registry.all_crfs():
        if crf.visit == "V0":
            if crf.subject_field:
                yield crf, list(crf.model.objects.filter(**{crf.subject_field: subject})[:1])
            else:
                yield crf, _unkeyed_rows_of_subject(crf, subject)


def validate_crf(*, instance, previous: dict | None = None) -> editchecks.Result:
    """Run the edit checks of the instance's form without saving (forms call it to show
    hard-check errors beside the fields)."""
    crf = crf_of(instance)
    return run_checks(instance, crf, check_context(instance, crf, previous))


@contextlib.contextmanager
def crf_write(*, instance, user, reason: str = "", expected_version: int | None = None,
              previous=_UNKNOWN) -> Iterator[CrfWrite]:
    """Guard one save of a CRF instance (see the module docstring). Must run inside the
    caller's transaction; the caller saves inside the `with` block. A caller that has locked
    the row (FOR NO KEY UPDATE) and checked its version passes the values it read as
    `previous`, saving a second locking read."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("crf_write must run inside the save service's transaction.")
    crf = crf_of(instance)
    if previous is _UNKNOWN:
        previous = None
        if instance.pk is not None:
            # Race prevented: two people saving the same form at once both computing their
            # change (and the reason check, SDV clearing, version check) against the same old values.
            row = crf.model.objects.select_for_update(no_key=True).filter(pk=instance.pk).first()
            if row is not None:
                previous = values_of(row, crf)
                if expected_version is not None and row.version != expected_version:
                    raise StaleVersion(expected=expected_version, found=row.version)
    subject = subject_of(instance)  # once: the lock check, edit checks and upkeep all need it
    # The lock trigger of the table refuses an UPDATE of locked data (any of the three
    # levels) in the UPDATE itself; where it covers this save, its refusal is turned into
    # DataLocked below instead of reading the locks first. Elsewhere (a first save, a table
    # whose subject is reached through another table) the locks are read here.
    trigger_answers = trigger_checks_every_lock(crf, instance)
    if not trigger_answers:
        assert_unlocked(instance, subject=subject)
    try:
        current = values_of(instance, crf)
        write = CrfWrite(crf=crf, first_save=previous is None)
        if previous is not None:
            write.changed = {k: (previous[k], v) for k, v in current.items()
                             if jsonable(previous[k]) != jsonable(v)}
            if write.changed and not (reason or "").strip():
                raise ReasonRequired(field_label(crf, k) for k in write.changed)
        result = run_checks(instance, crf, check_context(instance, crf, previous, subject=subject))
        if result.hard:
            raise HardCheckFailed(result.hard)
    except (ReasonRequired, HardCheckFailed):
        if trigger_answers:  # a lock is what the user must hear first, as on every other path
            assert_unlocked(instance, subject=subject)
        raise
    write.soft = result.soft
    with own_audit_context(reason=(reason or "").strip(), **actor_metadata(user)):
        try:
            yield write
        except DatabaseError as exc:
            lock = lock_from_error(exc)
            if lock is None:
                raise
            raise DataLocked(lock) from exc
        _after_save(instance=instance, crf=crf, user=user, write=write, reason=reason, subject=subject)


def _after_save(*, instance, crf, user, write: CrfWrite, reason: str, subject) -> None:
    if not write.soft and not write.changed:
        return
    site = subject.site if subject is not None else site_of(instance)
    # (label_of would look the subject up again: it is already known to be None here)
    label = subject.number if subject is not None else str(getattr(instance, "number", instance.pk))
    for failure in write.soft:
        q = _auto_query(instance=instance, crf=crf, failure=failure, site=site, subject=subject, label=label,
                        user=user)
        if q is not None:
            write.queries_opened.append(q)
    if write.changed:
        write.sdv_cleared, write.signatures_broken = _upkeep(instance=instance, crf=crf, write=write, user=user,
                                                             reason=reason, subject=subject)


RESOLVED = Message(gettext_noop("The edit check no longer fails after the change of this field."))
_resolved_stored: tuple | None = None  # its (English, msgid, params), made once


def _upkeep(*, instance, crf, write: CrfWrite, user, reason: str, subject) -> tuple[int, int]:
    """After a change, in one call of the upkeep function (datamanagement.upkeep; each of its
    writes audited by its table's triggers): a note on each unresolved edit-check query of a
    changed field whose check no longer fails; the SDV marks of the changed fields cleared,
    each with its why; the signatures that covered the changed data broken. Returns (SDV
    cleared, signatures broken)."""
    global _resolved_stored
    if _resolved_stored is None:
        _resolved_stored = stored(RESOLVED)
    text, msgid, msg_params = _resolved_stored
    now = timezone.now()
    still_failing = [(f.check, f.field) for f in write.soft]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {upkeep.FUNCTION}(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [crf.code, instance.pk, now,
             list(write.changed), sdv_clear_reasons(user=user, changed=write.changed, reason=reason, now=now),
             [c for c, _n in still_failing], [n for _c, n in still_failing],
             MessageKind.COMMENT, text, msgid, Jsonb(msg_params), QueryOrigin.EDIT_CHECK, QueryStatus.CLOSED,
             subject.pk if subject is not None else None,
             signatures_break_reason(crf=crf, user=user, changed=write.changed, now=now)
             if subject is not None else "",
             SignatureScope.CASEBOOK, SignatureScope.VISIT, crf.visit or None])
        sdv_cleared, broken = cursor.fetchone()
    return sdv_cleared, broken


def _change_text(crf, changed: dict, user, reason: str) -> str:
    parts = [f"{field_label(crf, k)}: {display(old)} → {display(new)}" for k, (old, new) in changed.items()]
    who = getattr(user, "username", "system")
    return f"{'; '.join(parts)} — changed by {who} on {timezone.now():%Y-%m-%d %H:%M} UTC. Reason: {reason}"


def _auto_query(*, instance, crf, failure, site, subject, label, user=None) -> Query | None:
    """Open the query of a failing soft check unless one is already unresolved."""
    unresolved = Query.objects.filter(
        crf_code=crf.code, object_id=instance.pk, field_name=failure.field,
        check_code=failure.check, origin=QueryOrigin.EDIT_CHECK,
    ).exclude(status=QueryStatus.CLOSED)
    if unresolved.exists():
        return None
    try:
        with transaction.atomic():  # savepoint: the UNIQUE constraint settles a concurrent twin
            text, msgid, params = stored(failure.source or failure.message)
            query = Query.objects.create(
                crf_code=crf.code, object_id=instance.pk, field_name=failure.field, object_label=label,
                site=site, subject=subject, origin=QueryOrigin.EDIT_CHECK, check_code=failure.check,
                protocol_deviation=failure.deviation, text=text, text_msgid=msgid, text_params=params,
            )
            QueryMessage.objects.create(query=query, kind=MessageKind.OPEN, author=None, text=text,
                                        text_msgid=msgid, text_params=params)
    except IntegrityError:
        return None
    if failure.deviation:
        audit_event_record(action=AuditAction.OTHER, site=site, obj=query,
                           summary=f"Protocol deviation detected by edit check {failure.check} on {label}",
                           detail={"form": crf.code, "field": failure.field, "message": failure.message})
        if subject is not None and user is not None:
            _deviation_record(subject=subject, user=user, failure=failure)
    notify_query_opened(query)
    return query


def _deviation_record(*, subject, user, failure) -> None:
    """File the protocol deviation in the subject's casebook (the form registered with
    extra={"records_deviations": True}, category "lab value after randomization"), in the same
    transaction as the change that revealed it; the site completes the corrective action."""
    form = registry.with_flag("records_deviations")
    if form is None or form.create is None:  # no deviation form: the flagged query is the record
        return
    form.create(subject=subject, user=user, reason=f"protocol deviation detected by edit check {failure.check}",
                data={"category": "lab", "description": f"Detected by edit check {failure.check}: {failure.message}",
                      "occurred_on": timezone.localtime(timezone.now(), subject.site.tz).date()})
