"""Writes of data management: the CRF write guard every form save goes through, queries, SDV,
electronic signatures and locks.

Contract for the apps that own CRFs (eligibility, followup): wrap the save in `crf_write`:

    with crf_write(instance=form, user=user, reason=reason, expected_version=version):
        form.version += 1          # your optimistic-locking bump, if you do it here
        form.save()

Before the save it checks the lock (`locks.assert_unlocked`), the optimistic version, the
reason for change (required for any change after the first save) and the hard edit checks;
the save runs under its own audit context carrying user and reason; after the save it opens
queries for soft edit checks, clears the SDV of changed fields and breaks signatures that
covered the changed data. All in the caller's transaction.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pghistory
import pghistory.runtime
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core import crf as registry
from core.roles import Action
from core.services import notification_create
from datamanagement import editchecks
from datamanagement.crfs import (
    crf_of,
    display,
    field_label,
    field_names,
    instances_of_subject,
    jsonable,
    label_of,
    site_of,
    subject_of,
    values_of,
)
from datamanagement.exceptions import (
    DataLocked,
    EditCheckFailed,
    LockError,
    QueryError,
    QueryTransitionRefused,
    ReasonRequired,
    SdvError,
    SignatureError,
    StaleVersion,
    WrongPassword,
)
from datamanagement.locks import assert_unlocked
from datamanagement.models import (
    Lock,
    LockLevel,
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
    Signature,
    SignatureScope,
    SourceVerification,
)
from datamanagement.permissions import can_answer, can_enter, can_raise, can_sdv

# --- Audit context ---------------------------------------------------------------------


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


def _actor_metadata(user) -> dict[str, Any]:
    if user is None or not getattr(user, "pk", None):
        return {}
    return {"user": user.pk, "username": user.username}


# --- The CRF write guard ----------------------------------------------------------------


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


def check_context(instance, crf: registry.CRF, previous: dict | None, subject=_UNKNOWN) -> editchecks.Context:
    """Facts about the subject that edit checks need (ORM side of the pure editchecks)."""
    if subject is _UNKNOWN:
        subject = subject_of(instance)
    baseline: dict[str, Any] = {}
    if crf.visit == "V0" or not crf.subject_field:
        baseline = values_of(instance, crf)
    elif subject is not None:
        for other, rows in instances_of_subject_baseline(subject):
            if rows:
                baseline = values_of(rows[0], other)
                break
    site = subject.site if subject is not None else site_of(instance)
    enrolled = subject is not None or getattr(instance, "outcome", None) == "randomized"
    return editchecks.Context(
        previous=previous,
        randomized_at=subject.randomized_at if subject is not None else None,
        site_time_zone=site.time_zone,
        baseline=baseline,
        enrolled=enrolled,
    )


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
    return editchecks.run(crf.code, values_of(instance, crf), check_context(instance, crf, previous))


@contextlib.contextmanager
def crf_write(*, instance, user, reason: str = "", expected_version: int | None = None) -> Iterator[CrfWrite]:
    """Guard one save of a CRF instance (see the module docstring). Must run inside the
    caller's transaction; the caller saves inside the `with` block."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("crf_write must run inside the save service's transaction.")
    crf = crf_of(instance)
    previous: dict | None = None
    if instance.pk is not None:
        # Race prevented: two people saving the same form at once both computing their change
        # (and the reason check, SDV clearing, version check) against the same old values.
        row = crf.model.objects.select_for_update(no_key=True).filter(pk=instance.pk).first()
        if row is not None:
            previous = values_of(row, crf)
            if expected_version is not None and row.version != expected_version:
                raise StaleVersion(expected_version, row.version)
    subject = subject_of(instance)  # once: the lock check, edit checks and upkeep all need it
    assert_unlocked(instance, subject=subject)
    current = values_of(instance, crf)
    write = CrfWrite(crf=crf, first_save=previous is None)
    if previous is not None:
        write.changed = {k: (previous[k], v) for k, v in current.items() if jsonable(previous[k]) != jsonable(v)}
        if write.changed and not (reason or "").strip():
            raise ReasonRequired(field_label(crf, k) for k in write.changed)
    result = editchecks.run(crf.code, current, check_context(instance, crf, previous, subject=subject))
    if result.hard:
        raise EditCheckFailed(result.hard)
    write.soft = result.soft
    with own_audit_context(reason=(reason or "").strip(), **_actor_metadata(user)):
        yield write
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
        _note_resolved_checks(instance=instance, crf=crf, write=write, user=user)
        write.sdv_cleared = _sdv_clear_changed(instance=instance, crf=crf, user=user, write=write, reason=reason)
        if subject is not None:
            write.signatures_broken = _signatures_break(subject=subject, crf=crf, user=user,
                                                        write=write, label=label)


def _change_text(crf, changed: dict, user, reason: str) -> str:
    parts = [f"{field_label(crf, k)}: {display(old)} → {display(new)}" for k, (old, new) in changed.items()]
    who = getattr(user, "username", "system")
    return f"{'; '.join(parts)} — changed by {who} on {timezone.now():%Y-%m-%d %H:%M} UTC. Reason: {reason}"


# --- Queries ------------------------------------------------------------------------------


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
            query = Query.objects.create(
                crf_code=crf.code, object_id=instance.pk, field_name=failure.field, object_label=label,
                site=site, subject=subject, origin=QueryOrigin.EDIT_CHECK, check_code=failure.check,
                protocol_deviation=failure.deviation, text=failure.message,
            )
            QueryMessage.objects.create(query=query, kind=MessageKind.OPEN, author=None, text=failure.message)
    except IntegrityError:
        return None
    if failure.deviation:
        audit_event_record(action=AuditAction.OTHER, site=site, obj=query,
                           summary=f"Protocol deviation detected by edit check {failure.check} on {label}",
                           detail={"form": crf.code, "field": failure.field, "message": failure.message})
        if subject is not None and user is not None:
            _deviation_record(subject=subject, user=user, failure=failure)
    _notify_query_opened(query)
    return query


def _deviation_record(*, subject, user, failure) -> None:
    """File the protocol deviation in the subject's casebook (follow-up's deviation form,
    category "lab value after randomization"), in the same transaction as the change that
    revealed it; the site completes the corrective action."""
    try:
        from followup.models import ProtocolDeviation
    except ImportError:  # without the follow-up app the flagged query is the record
        return
    deviation = ProtocolDeviation(
        subject=subject, created_by=user, updated_by=user, category="lab",
        occurred_on=timezone.localtime(timezone.now(), subject.site.tz).date(),
        description=f"Detected by edit check {failure.check}: {failure.message}",
    )
    with crf_write(instance=deviation, user=user, reason=f"protocol deviation detected by edit check {failure.check}"):
        deviation.save()


def _note_resolved_checks(*, instance, crf, write: CrfWrite, user) -> None:
    still_failing = {(f.check, f.field) for f in write.soft}
    for q in Query.objects.filter(crf_code=crf.code, object_id=instance.pk, origin=QueryOrigin.EDIT_CHECK,
                                  field_name__in=list(write.changed)).exclude(status=QueryStatus.CLOSED):
        if (q.check_code, q.field_name) not in still_failing:
            QueryMessage.objects.create(query=q, kind=MessageKind.COMMENT, author=None,
                                        text="The edit check no longer fails after the change of this field.")


def _lock_query(query: Query) -> Query:
    # Race prevented: a monitor closing while the site answers (or two monitors acting at
    # once) both moving the query from the same status.
    return Query.objects.select_for_update(no_key=True).select_related("site").get(pk=query.pk)


def _require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied(_("You do not have permission for this action on this query."))


@transaction.atomic(durable=True)
def query_open(*, user, instance, field_name: str, text: str) -> Query:
    """A monitor or data manager raises a query on one field of a CRF instance."""
    crf = crf_of(instance)
    site = site_of(instance)
    _require(can_raise(user, crf, site.pk))
    if field_name not in field_names(crf):
        raise QueryError(_("Field: %(f)s is not a data field of %(form)s.") % {"f": field_name, "form": crf.label})
    if not (text or "").strip():
        raise QueryError(_("Question: write what should be checked."))
    assert_unlocked(instance)
    query = Query.objects.create(
        crf_code=crf.code, object_id=instance.pk, field_name=field_name, object_label=label_of(instance),
        site=site, subject=subject_of(instance), origin=QueryOrigin.MANUAL, text=text.strip(),
        opened_by=user,
    )
    QueryMessage.objects.create(query=query, kind=MessageKind.OPEN, author=user, text=text.strip())
    # A question about the procedure form may itself reveal the arm ("stent placed?").
    audit_event_record(action=AuditAction.QUERY, actor=user, site=site, obj=query,
                       summary=f"Query opened on {query.object_label} {crf.code}.{field_name}",
                       reveals_allocation=crf.reveals_arm)
    _notify_query_opened(query)
    return query


@transaction.atomic(durable=True)
def query_answer(*, user, query: Query, text: str) -> Query:
    query = _lock_query(query)
    crf = registry.get(query.crf_code)
    _require(can_answer(user, crf, query.site_id))
    if query.status != QueryStatus.OPEN:
        raise QueryTransitionRefused("answered", query.get_status_display().lower())
    if not (text or "").strip():
        raise QueryError(_("Answer: write your answer to the question."))
    return _transition(query, user=user, kind=MessageKind.ANSWER, status=QueryStatus.ANSWERED, text=text)


@transaction.atomic(durable=True)
def query_close(*, user, query: Query, text: str = "") -> Query:
    query = _lock_query(query)
    _require(can_raise(user, registry.get(query.crf_code), query.site_id))
    if query.status == QueryStatus.CLOSED:
        raise QueryTransitionRefused("closed", "closed")
    return _transition(query, user=user, kind=MessageKind.CLOSE, status=QueryStatus.CLOSED, text=text)


@transaction.atomic(durable=True)
def query_reopen(*, user, query: Query, text: str) -> Query:
    query = _lock_query(query)
    _require(can_raise(user, registry.get(query.crf_code), query.site_id))
    if query.status == QueryStatus.OPEN:
        raise QueryTransitionRefused("re-opened", "open")
    if not (text or "").strip():
        raise QueryError(_("Reason: say why the query is re-opened."))
    query = _transition(query, user=user, kind=MessageKind.REOPEN, status=QueryStatus.OPEN, text=text)
    _notify_query_opened(query)
    return query


@transaction.atomic(durable=True)
def query_comment(*, user, query: Query, text: str) -> QueryMessage:
    crf = registry.get(query.crf_code)
    _require(can_raise(user, crf, query.site_id) or can_answer(user, crf, query.site_id))
    if not (text or "").strip():
        raise QueryError(_("Comment: the comment is empty."))
    return QueryMessage.objects.create(query=query, kind=MessageKind.COMMENT, author=user, text=text.strip())


def _transition(query: Query, *, user, kind: str, status: str, text: str) -> Query:
    now = timezone.now()
    query.status = status
    query.version += 1
    if status == QueryStatus.ANSWERED:
        query.answered_at = now
    elif status == QueryStatus.CLOSED:
        query.closed_at, query.closed_by = now, user
    else:
        query.answered_at = query.closed_at = query.closed_by = None
    with own_audit_context(reason=(text or "").strip(), **_actor_metadata(user)):
        query.save()
        QueryMessage.objects.create(query=query, kind=kind, author=user, text=(text or "").strip())
    audit_event_record(action=AuditAction.QUERY, actor=user, site=query.site, obj=query,
                       summary=f"Query Q{query.pk} {kind} ({query.object_label} {query.crf_code}.{query.field_name})",
                       reason=(text or "").strip(), reveals_allocation=registry.get(query.crf_code).reveals_arm)
    return query


def _recipients(query: Query) -> list:
    """Active users of the query's site whose role enters the form (the day-90 form: the
    blinded assessors; other forms: coordinators and investigators)."""
    from core.models import User

    crf = registry.get(query.crf_code)
    return list(User.objects.filter(
        is_active=True, memberships__active=True, memberships__site_id=query.site_id,
        memberships__role__in=list(crf.entered_by),
    ).distinct().order_by("pk"))


def _notify_query_opened(query: Query) -> None:
    """Tell the site: an in-app notice (the one inbox, core.Notification) written in this
    transaction, and its e-mail sent after commit — nothing is sent for a rolled-back query."""
    from django.urls import reverse

    crf = registry.get(query.crf_code)

    # Deferred texts: built in each recipient's language (core.i18n).
    def title():
        return _("Query on %(obj)s · %(form)s · %(field)s") % {
            "obj": query.object_label, "form": _(str(crf.label)), "field": field_label(crf, query.field_name)}

    def body():
        return _("A query was opened at site %(site)s on %(obj)s, form %(form)s, field %(field)s:\n\n%(text)s"
                 "\n\nPlease answer it in the EDC (Queries).") % {
            "site": query.site.code, "obj": query.object_label, "form": _(str(crf.label)),
            "field": field_label(crf, query.field_name), "text": query.text}
    url = reverse("datamanagement:query", args=[query.pk])
    users = _recipients(query)
    # No key: a query re-opened later tells the site again.
    notification_create(users=users, subject=query.subject, title=title, body=body, url=url)


# --- Correcting a value (from a query) ------------------------------------------------------


def crf_field_correct(*, user, instance, field_name: str, value: Any, reason: str,
                      query: Query | None = None) -> Any:
    """Site staff change one field (typically answering a query), with a reason.

    The owning app may register its own update service in CRF.extra["update_service"]
    (signature: (*, instance, user, data, reason) -> instance) so derived values (e.g. the
    eligibility verdict) are recomputed; otherwise the field is saved through crf_write here.
    """
    crf = crf_of(instance)
    site = site_of(instance)
    _require(can_enter(user, crf, site.pk))
    if field_name not in field_names(crf):
        raise QueryError(_("Field: %(f)s is not a data field of %(form)s.") % {"f": field_name, "form": crf.label})
    model_field = crf.model._meta.get_field(field_name)
    try:
        cleaned = model_field.clean(value, instance) if value not in ("", None) else None
    except ValidationError as exc:
        raise QueryError(f"{field_label(crf, field_name)}: {' '.join(exc.messages)}") from exc
    if isinstance(cleaned, _dt.datetime) and timezone.is_naive(cleaned):
        # A time typed on the form is the site's local time (SPEC §3: shown and entered in the
        # site's zone, stored in UTC).
        cleaned = timezone.make_aware(cleaned, site.tz)
    if cleaned is None and not model_field.null:
        cleaned = "" if model_field.get_internal_type() in ("CharField", "TextField") else model_field.get_default()
    old = getattr(instance, model_field.attname)
    update_service = crf.extra.get("update_service") or UPDATE_ADAPTERS.get(crf.code)
    if update_service is not None:
        instance = update_service(instance=instance, user=user, data={field_name: cleaned}, reason=reason)
    else:
        instance = _generic_field_save(instance=instance, crf=crf, user=user, field_name=field_name,
                                       value=cleaned, reason=reason)
    if query is not None:
        _note_correction(query=query, user=user, crf=crf, field_name=field_name, old=old,
                         new=cleaned, reason=reason)
    return instance


def _screening_update(*, instance, user, data, reason):
    """The screening CRF's own update service (re-derives the verdict); its refusals become
    QueryError so the query page shows them beside the input."""
    from eligibility.data import screening_data
    from eligibility.exceptions import ScreeningError
    from eligibility.services import screening_update

    instance.refresh_from_db()
    try:
        return screening_update(screening=instance, user=user, data={**screening_data(instance), **data},
                                version=instance.version, reason=reason)
    except PermissionDenied:
        raise
    except ScreeningError as exc:
        raise QueryError(str(exc)) from exc


def _followup_update(service_name: str, *, repeating: bool = False):
    """A follow-up form's own save service (its hard checks and derived values, e.g. the
    day-90 study day and window flag), given the form's current values plus the correction."""

    def update(*, instance, user, data, reason):
        from followup import services as fu
        from followup.exceptions import FollowupError, NotPermitted

        skip = {"id", "subject", "created_by", "updated_by", "version", "created_at", "updated_at"}
        current = {(f.attname if f.is_relation else f.name): getattr(instance, f.attname)
                   for f in instance._meta.concrete_fields if f.editable and f.name not in skip}
        kwargs = {"pk": instance.pk} if repeating else {}
        try:
            return getattr(fu, service_name)(subject=instance.subject, user=user, data={**current, **data},
                                             version=instance.version, reason=reason, **kwargs)
        except NotPermitted as exc:
            raise PermissionDenied(str(exc)) from exc
        except FollowupError as exc:
            raise QueryError(str(exc)) from exc

    return update


# Forms whose owning app has its own update service (derived values to recompute). A form may
# instead declare CRF(extra={"update_service": callable}). Forms not listed (the procedure form,
# whose service also rewrites its passes) are corrected through crf_write directly.
UPDATE_ADAPTERS = {
    "SCREENING": _screening_update,
    "V2_24H": _followup_update("visit24h_save"),
    "V3_48H": _followup_update("visit48h_save"),
    "V4_DAY7": _followup_update("visit7d_save"),
    "V5_DAY90": _followup_update("day90_save"),
    "AE": _followup_update("adverse_event_save", repeating=True),
    "DEVIATION": _followup_update("deviation_save", repeating=True),
    "DEATH": _followup_update("death_record"),
    "EXIT": _followup_update("study_exit_record"),
}


@transaction.atomic(durable=True)
def _generic_field_save(*, instance, crf, user, field_name, value, reason):
    instance = crf.model.objects.get(pk=instance.pk)
    model_field = crf.model._meta.get_field(field_name)
    setattr(instance, model_field.attname, value)
    with crf_write(instance=instance, user=user, reason=reason, expected_version=instance.version):
        instance.version += 1
        instance.save(update_fields=[model_field.attname, "version"])
    return instance


@transaction.atomic(durable=True)
def _note_correction(*, query, user, crf, field_name, old, new, reason) -> None:
    query = _lock_query(query)
    text = f"{field_label(crf, field_name)}: {display(old)} → {display(new)}. Reason: {reason}"
    QueryMessage.objects.create(query=query, kind=MessageKind.CORRECTION, author=user, text=text)
    if query.status == QueryStatus.OPEN:
        _transition(query, user=user, kind=MessageKind.ANSWER, status=QueryStatus.ANSWERED,
                    text=f"Corrected: {text}")


# --- SDV ----------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def sdv_mark(*, user, instance, fields: Iterable[str] | None = None) -> int:
    """Mark fields (default: the whole form) as source-verified. Returns how many were newly marked."""
    crf = crf_of(instance)
    site = site_of(instance)
    if not can_sdv(user, crf, site.pk):
        raise PermissionDenied(_("Only the monitor of this site marks source data verified."))
    names = field_names(crf)
    wanted = list(fields) if fields is not None else names
    unknown = [f for f in wanted if f not in names]
    if unknown:
        raise SdvError(f"Field: {', '.join(unknown)} is not a data field of {crf.label}.")
    done = set(SourceVerification.objects.filter(crf_code=crf.code, object_id=instance.pk, active=True,
                                                 field_name__in=wanted).values_list("field_name", flat=True))
    subject = subject_of(instance)
    values = values_of(instance, crf)
    rows = [SourceVerification(crf_code=crf.code, object_id=instance.pk, field_name=f, site=site,
                               subject=subject, verified_by=user, verified_value=jsonable(values[f]))
            for f in wanted if f not in done]
    with own_audit_context(**_actor_metadata(user)):
        # ignore_conflicts: a double click (or a colleague) marking the same field at once
        SourceVerification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _sdv_clear_changed(*, instance, crf, user, write: CrfWrite, reason: str) -> int:
    """Clear the SDV of every changed field, each with its own why — one UPDATE however many
    fields changed (a follow-up form may change fifteen NIHSS items at once)."""
    from django.db.models import Case, TextField, Value, When

    now = timezone.now()
    who = getattr(user, "username", "system")
    whens = [When(field_name=name, then=Value(
        f"Value changed from {display(old)} to {display(new)} by {who} on {now:%Y-%m-%d %H:%M} UTC. "
        f"Reason: {reason}")) for name, (old, new) in write.changed.items()]
    return SourceVerification.objects.filter(
        crf_code=crf.code, object_id=instance.pk, field_name__in=list(write.changed), active=True,
    ).update(active=False, cleared_at=now, cleared_reason=Case(*whens, output_field=TextField()))


# --- Signatures ---------------------------------------------------------------------------

SIGNATURE_MEANINGS = {
    # In the signer's language: the meaning they read is the meaning recorded.
    SignatureScope.CASEBOOK: gettext_lazy("I, {name}, approve the data in this casebook of subject {subject}: I have "
                                          "reviewed them and they are accurate and complete to the best of my "
                                          "knowledge."),
    SignatureScope.VISIT: gettext_lazy("I, {name}, approve the data of visit {visit} of subject {subject}: I have "
                                       "reviewed them and they are accurate and complete to the best of my "
                                       "knowledge."),
}


def signature_meaning(*, user, subject, scope: str, visit: str = "") -> str:
    name = user.get_full_name() or user.username
    return str(SIGNATURE_MEANINGS[scope]).format(name=name, subject=subject.number, visit=visit)


def signature_content(subject, scope: str, visit: str = "") -> list[list]:
    """What a signature covers: every CRF instance of the subject (of the visit), with version."""
    out = []
    for crf, rows in instances_of_subject(subject):
        if scope == SignatureScope.VISIT and crf.visit != visit:
            continue
        out.extend([crf.code, row.pk, getattr(row, "version", 1)] for row in rows)
    return out


def signature_sign(*, user, subject, scope: str, visit: str = "", password: str, ip: str | None = None) -> Signature:
    """The investigator signs a visit or the casebook (21 CFR 11.50, 11.70, 11.200: the
    signature is executed by re-entering the password, and its meaning is part of the record).

    The password is checked before the signing transaction starts, so that a refused attempt
    is itself recorded (11.300(d)) instead of being rolled back with the refusal.
    """
    access.require(user, Action.SIGN, subject.site_id)
    if not password or not user.check_password(password):
        with transaction.atomic(durable=True):
            audit_event_record(action=AuditAction.SIGNATURE, actor=user, site=subject.site,
                               summary=f"Signature refused for {subject.number}: wrong password", ip=ip)
        raise WrongPassword()
    return _signature_create(user=user, subject=subject, scope=scope, visit=visit, ip=ip)


@transaction.atomic(durable=True)
def _signature_create(*, user, subject, scope: str, visit: str, ip: str | None) -> Signature:
    if scope not in SignatureScope.values:
        raise SignatureError(f"Scope: expected visit or casebook, found {scope!r}.")
    if scope == SignatureScope.VISIT and not visit:
        raise SignatureError(_("Visit: choose the visit to sign."))
    content = signature_content(subject, scope, visit if scope == SignatureScope.VISIT else "")
    if not content:
        raise SignatureError(_("There is no data to sign yet for this visit.") if visit
                             else _("There is no data to sign yet for this casebook."))
    meaning = signature_meaning(user=user, subject=subject, scope=scope, visit=visit)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    with own_audit_context(reason="electronic signature", **_actor_metadata(user)):
        signature = Signature.objects.create(
            subject=subject, scope=scope, visit=visit if scope == SignatureScope.VISIT else "",
            signer=user, signer_name=user.get_full_name() or user.username, meaning=meaning,
            content_digest=digest, content=content,
        )
    audit_event_record(action=AuditAction.SIGNATURE, actor=user, site=subject.site, obj=signature,
                       summary=f"Signed {scope} {visit} of {subject.number}".replace("  ", " "),
                       detail={"meaning": meaning, "digest": digest}, ip=ip)
    return signature


def _signatures_break(*, subject, crf, user, write: CrfWrite, label: str) -> int:
    scope_q = Q(scope=SignatureScope.CASEBOOK)
    if crf.visit:
        scope_q |= Q(scope=SignatureScope.VISIT, visit=crf.visit)
    why = f"{crf.label} changed after signing — " + "; ".join(
        f"{field_label(crf, k)}: {display(o)} → {display(n)}" for k, (o, n) in write.changed.items()
    ) + f" (by {getattr(user, 'username', 'system')}, {timezone.now():%Y-%m-%d %H:%M} UTC)"
    return Signature.objects.filter(scope_q, subject=subject, broken_at=None).update(
        broken_at=timezone.now(), broken_reason=why[:2000])


# --- Locks --------------------------------------------------------------------------------


def _lock_create(*, user, level, reason, **target) -> Lock:
    access.require(user, Action.LOCK)
    try:
        with transaction.atomic(), own_audit_context(reason=reason or "lock", **_actor_metadata(user)):
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
    with own_audit_context(reason=reason.strip(), **_actor_metadata(user)):
        lock.save()
    audit_event_record(action=AuditAction.LOCK, actor=user, site=lock.site, obj=lock,
                       summary=f"Unlocked {lock.level} {lock.object_label}".strip(), reason=reason.strip())
    return lock


__all__ = [
    "CrfWrite", "DataLocked", "crf_field_correct", "crf_write", "lock_database", "lock_form",
    "lock_release", "lock_subject", "query_answer", "query_close", "query_comment", "query_open",
    "query_reopen", "sdv_mark", "signature_meaning", "signature_sign", "validate_crf",
]
