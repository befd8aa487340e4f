"""Source data verification: marking fields verified, and clearing the marks of changed fields.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from datamanagement.crfs import (
    crf_of,
    display,
    field_names,
    jsonable,
    site_of,
    subject_of,
    values_of,
)
from datamanagement.exceptions import (
    SdvError,
)
from datamanagement.models import (
    SourceVerification,
)
from datamanagement.permissions import can_sdv
from datamanagement.services.context import actor_metadata, own_audit_context


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
    with own_audit_context(**actor_metadata(user)):
        # ignore_conflicts: a double click (or a colleague) marking the same field at once
        SourceVerification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def sdv_clear_reasons(*, user, changed: dict, reason: str, now) -> list[str]:
    """Why the SDV of each changed field is cleared (for the write guard's upkeep, which
    clears the marks of every changed field at once — a follow-up form may change fifteen
    NIHSS items at once), in the order of `changed`."""
    who = getattr(user, "username", "system")
    return [f"Value changed from {display(old)} to {display(new)} by {who} on {now:%Y-%m-%d %H:%M} UTC. "
            f"Reason: {reason}" for old, new in changed.values()]
