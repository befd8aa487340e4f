"""Queries: raised by a monitor or data manager (or opened by a soft edit check), answered by the site, closed or re-opened by the monitor; each transition audited and the site told.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_event_record
from core import blinding
from core import crf as registry
from core.services import notification_create
from datamanagement.crfs import (
    crf_of,
    field_label,
    field_names,
    label_of,
    site_of,
    subject_of,
)
from datamanagement.exceptions import (
    QueryError,
    QueryTransitionRefused,
)
from datamanagement.locks import assert_unlocked
from datamanagement.models import (
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
)
from datamanagement.permissions import can_answer, can_raise
from datamanagement.services.context import actor_metadata, own_audit_context


def lock_query(query: Query) -> Query:
    # Race prevented: a monitor closing while the site answers (or two monitors acting at
    # once) both moving the query from the same status.
    return Query.objects.select_for_update(no_key=True).select_related("site").get(pk=query.pk)


def require_permission(condition: bool) -> None:
    if not condition:
        raise PermissionDenied(_("You do not have permission for this action on this query."))


@transaction.atomic(durable=True)
def query_open(*, user, instance, field_name: str, text: str) -> Query:
    """A monitor or data manager raises a query on one field of a CRF instance."""
    crf = crf_of(instance)
    site = site_of(instance)
    require_permission(can_raise(user, crf, site.pk))
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
    notify_query_opened(query)
    return query


@transaction.atomic(durable=True)
def query_answer(*, user, query: Query, text: str) -> Query:
    query = lock_query(query)
    crf = registry.get(query.crf_code)
    require_permission(can_answer(user, crf, query.site_id))
    if query.status != QueryStatus.OPEN:
        raise QueryTransitionRefused("answered", query.get_status_display().lower())
    if not (text or "").strip():
        raise QueryError(_("Answer: write your answer to the question."))
    return query_transition(query, user=user, kind=MessageKind.ANSWER, status=QueryStatus.ANSWERED, text=text)


@transaction.atomic(durable=True)
def query_close(*, user, query: Query, text: str = "") -> Query:
    query = lock_query(query)
    require_permission(can_raise(user, registry.get(query.crf_code), query.site_id))
    if query.status == QueryStatus.CLOSED:
        raise QueryTransitionRefused("closed", "closed")
    return query_transition(query, user=user, kind=MessageKind.CLOSE, status=QueryStatus.CLOSED, text=text)


@transaction.atomic(durable=True)
def query_reopen(*, user, query: Query, text: str) -> Query:
    query = lock_query(query)
    require_permission(can_raise(user, registry.get(query.crf_code), query.site_id))
    if query.status == QueryStatus.OPEN:
        raise QueryTransitionRefused("re-opened", "open")
    if not (text or "").strip():
        raise QueryError(_("Reason: say why the query is re-opened."))
    query = query_transition(query, user=user, kind=MessageKind.REOPEN, status=QueryStatus.OPEN, text=text)
    notify_query_opened(query)
    return query


@transaction.atomic(durable=True)
def query_comment(*, user, query: Query, text: str) -> QueryMessage:
    crf = registry.get(query.crf_code)
    require_permission(can_raise(user, crf, query.site_id) or can_answer(user, crf, query.site_id))
    if not (text or "").strip():
        raise QueryError(_("Comment: the comment is empty."))
    return QueryMessage.objects.create(query=query, kind=MessageKind.COMMENT, author=user, text=text.strip())


def query_transition(query: Query, *, user, kind: str, status: str, text: str) -> Query:
    now = timezone.now()
    query.status = status
    query.version += 1
    if status == QueryStatus.ANSWERED:
        query.answered_at = now
    elif status == QueryStatus.CLOSED:
        query.closed_at, query.closed_by = now, user
    else:
        query.answered_at = query.closed_at = query.closed_by = None
    with own_audit_context(reason=(text or "").strip(), **actor_metadata(user)):
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
    users = User.objects.filter(
        is_active=True, memberships__active=True, memberships__site_id=query.site_id,
        memberships__role__in=list(crf.entered_by),
    ).distinct().order_by("pk")
    # A query on an arm-revealing form or field never reaches anyone blinded for the site —
    # including site staff who are blinded assessors elsewhere (core.blinding).
    return blinding.recipients(users, site=query.site_id,
                               reveals=blinding.reveals_arm(crf=crf, field=query.field_name))


def notify_query_opened(query: Query) -> None:
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
            "field": field_label(crf, query.field_name), "text": query.shown_text}
    url = reverse("datamanagement:query", args=[query.pk])
    users = _recipients(query)
    # No key: a query re-opened later tells the site again.
    notification_create(users=users, subject=query.subject, title=title, body=body, url=url)
