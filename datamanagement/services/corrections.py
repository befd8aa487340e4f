"""Correcting a value (typically answering a query), through the form's own save service.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from datamanagement.crfs import (
    crf_of,
    display,
    field_label,
    field_names,
    site_of,
)
from datamanagement.exceptions import (
    QueryError,
)
from datamanagement.models import (
    MessageKind,
    Query,
    QueryMessage,
    QueryStatus,
)
from datamanagement.permissions import can_enter
from datamanagement.services.guard import crf_write
from datamanagement.services.queries import lock_query, query_transition, require_permission


def crf_field_correct(*, user, instance, field_name: str, value: Any, reason: str,
                      query: Query | None = None) -> Any:
    """Site staff change one field (typically answering a query), with a reason.

    The owning app may register its own update service in CRF.extra["update_service"]
    (signature: (*, instance, user, data, reason) -> instance) so derived values (e.g. the
    eligibility verdict) are recomputed; otherwise the field is saved through crf_write here.
    """
    crf = crf_of(instance)
    site = site_of(instance)
    require_permission(can_enter(user, crf, site.pk))
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
    query = lock_query(query)
    text = f"{field_label(crf, field_name)}: {display(old)} → {display(new)}. Reason: {reason}"
    QueryMessage.objects.create(query=query, kind=MessageKind.CORRECTION, author=user, text=text)
    if query.status == QueryStatus.OPEN:
        query_transition(query, user=user, kind=MessageKind.ANSWER, status=QueryStatus.ANSWERED,
                    text=f"Corrected: {text}")
