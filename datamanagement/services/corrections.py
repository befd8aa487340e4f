"""Correcting a value (typically answering a query), through the form's own save service.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import bounds
from core.exceptions import NotPermitted, QueryClosed
from datamanagement.crfs import (
    crf_of,
    display,
    field_label,
    field_names,
    site_of,
)
from datamanagement.exceptions import QueryError
from datamanagement.models import (
    MessageKind,
    Query,
    QueryMessage,
    QueryStatus,
)
from datamanagement.permissions import can_enter
from datamanagement.services.guard import crf_write
from datamanagement.services.queries import lock_query, query_transition, require_permission


@transaction.atomic(durable=True)
def crf_field_correct(*, user, instance, field_name: str, value: Any, reason: str,
                      query: Query | None = None) -> Any:
    """Site staff change one field (typically answering a query), with a reason.

    The change goes through the form's own update service (core.crf: CRF.update), so derived
    values are recomputed and the same guard runs as on the form page: lock, version, reason,
    bounds, every hard and soft check. A form without an update service is saved through the
    guard directly. The change and its correction note commit together, or neither does; a
    closed query takes no correction.
    """
    crf = crf_of(instance)
    site = site_of(instance)
    require_permission(can_enter(user, crf, site.pk))
    if query is not None:
        query = lock_query(query)
        if query.status == QueryStatus.CLOSED:
            raise QueryClosed(query.pk)
    if field_name not in field_names(crf):
        raise QueryError(_("Field: %(f)s is not a data field of %(form)s.") % {"f": field_name, "form": crf.label})
    model_field = crf.model._meta.get_field(field_name)
    problem = bounds.value_problem(value, now=timezone.now(), time_zone=site.tz) if isinstance(value, str) else None
    if problem:
        raise QueryError(f"{field_label(crf, field_name)}: {problem}")
    if value in ("", None) and not model_field.blank and model_field.get_internal_type() != "BooleanField":
        raise QueryError(_("%(field)s: a value is required (this field cannot be left empty).")
                         % {"field": field_label(crf, field_name)})
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
    try:
        if crf.update is not None:
            instance = crf.update(instance=instance, user=user, data={model_field.attname: cleaned}, reason=reason)
        else:
            instance = _generic_field_save(instance=instance, crf=crf, user=user, field_name=field_name,
                                           value=cleaned, reason=reason)
    except NotPermitted as exc:
        raise PermissionDenied(str(exc)) from exc
    if query is not None:
        _note_correction(query=query, user=user, crf=crf, field_name=field_name, old=old,
                         new=cleaned, reason=reason)
    return instance


@transaction.atomic(durable=True)
def crf_values_update(*, user, instance, values: dict[str, Any], reason: str) -> Any:
    """Change several fields of one saved form at once (an import), through the form's own
    update service — the same guard and checks as every other path — in one transaction."""
    crf = crf_of(instance)
    require_permission(can_enter(user, crf, site_of(instance).pk))
    try:
        if crf.update is not None:
            return crf.update(instance=instance, user=user, data=dict(values), reason=reason)
        for name, value in values.items():
            instance = _generic_field_save(instance=instance, crf=crf, user=user, field_name=name, value=value,
                                           reason=reason)
        return instance
    except NotPermitted as exc:
        raise PermissionDenied(str(exc)) from exc


def _generic_field_save(*, instance, crf, user, field_name, value, reason):
    instance = crf.model.objects.get(pk=instance.pk)
    model_field = crf.model._meta.get_field(field_name)
    setattr(instance, model_field.attname, value)
    with crf_write(instance=instance, user=user, reason=reason, expected_version=instance.version):
        instance.version += 1
        instance.save(update_fields=[model_field.attname, "version"])
    return instance


def _note_correction(*, query, user, crf, field_name, old, new, reason) -> None:
    """The correction note, in the correction's transaction (the query row is already locked)."""
    text = f"{field_label(crf, field_name)}: {display(old)} → {display(new)}. Reason: {reason}"
    QueryMessage.objects.create(query=query, kind=MessageKind.CORRECTION, author=user, text=text)
    if query.status == QueryStatus.OPEN:
        query_transition(query, user=user, kind=MessageKind.ANSWER, status=QueryStatus.ANSWERED,
                         text=f"Corrected: {text}")
