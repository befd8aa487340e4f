"""Generic helpers over the CRF registry (core.crf): which form an instance belongs to, its
subject and site, which of its fields are clinical data, and its values as plain JSON.

Nothing here names a particular form, so a CRF registered by any app gets queries, SDV,
signatures, locks, edit checks and the audit trail without further code.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import models

from core import crf as registry

# Bookkeeping columns that are not clinical data (not queried, not source-verified, and a
# change in them alone needs no reason). A form adds its own derived/workflow fields in its
# registry entry (CRF.derived_fields).
BOOKKEEPING = frozenset({"id", "version", "created_at", "updated_at", "created_by", "updated_by", "site", "number"})

class NotACRF(LookupError):
    pass


def crf_of(instance_or_model) -> registry.CRF:
    model = instance_or_model if isinstance(instance_or_model, type) else type(instance_or_model)
    model = model._meta.concrete_model
    for crf in registry.all_crfs():
        if crf.model._meta.concrete_model is model:
            return crf
    raise NotACRF(f"{model._meta.label} is not a registered CRF (core.crf).")


def is_crf(instance) -> bool:
    try:
        crf_of(instance)
    except NotACRF:
        return False
    return True


def data_fields(crf: registry.CRF) -> list[models.Field]:
    """The clinical fields of a form, in declaration order."""
    skip = set(BOOKKEEPING) | set(crf.derived_fields)
    if crf.subject_field:
        skip.add(crf.subject_field.split("__")[0])
    out = []
    for f in crf.model._meta.concrete_fields:
        if f.primary_key or f.name in skip or not f.editable:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            continue
        out.append(f)
    return out


def field_names(crf: registry.CRF) -> list[str]:
    return [f.name for f in data_fields(crf)]


def field_label(crf: registry.CRF, name: str) -> str:
    try:
        return str(crf.model._meta.get_field(name).verbose_name)
    except Exception:  # a field removed since the record was written
        return name


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def values_of(instance, crf: registry.CRF | None = None) -> dict[str, Any]:
    """Python values of the data fields (foreign keys as ids)."""
    crf = crf or crf_of(instance)
    return {f.name: getattr(instance, f.attname) for f in data_fields(crf)}


def display(value: Any, tz=None) -> str:
    """A value as a person reads it; instants in the site's zone with the zone named (SPEC §3)."""
    if value is None or value == "" or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        if tz is not None:
            from django.utils import timezone

            return f"{timezone.localtime(value, tz):%Y-%m-%d %H:%M} {tz.key}"
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, dict):
        return " · ".join(f"{k}: {v}" for k, v in sorted(value.items(), key=lambda kv: _item_order(kv[0])))
    return str(value)


def display_label(value: Any, field=None, tz=None) -> str:
    """display() for a page, in the reader's language: yes/no translated and a coded value
    shown by its label (a code is never shown where a label exists)."""
    from django.utils.translation import gettext

    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    choices = getattr(field, "flatchoices", None) if field is not None else None
    if choices and value not in (None, ""):
        labels = {str(k): v for k, v in choices}
        if str(value) in labels:
            return str(labels[str(value)])
    return display(value, tz)


def _item_order(key: str):
    digits = "".join(c for c in str(key) if c.isdigit())
    return (int(digits) if digits else 999, str(key))


def follow(instance, path: str):
    """instance.a.b for the ORM path "a__b" (CRF.subject_field may be a path, e.g. the
    procedure's passes: "procedure__subject")."""
    obj = instance
    for part in path.split("__"):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def subject_of(instance):
    """The randomized subject a CRF instance belongs to, or None (a screening not randomized)."""
    crf = crf_of(instance)
    if crf.subject_field:
        return follow(instance, crf.subject_field)
    if instance.pk is None:
        return None
    link = _subject_link(crf.model)
    if link is None:
        return None
    link_model, to_crf, to_subject = link
    from core.models import Subject

    link = link_model.objects.filter(**{to_crf: instance.pk}).values(to_subject)[:1]
    return Subject.objects.select_related("site").filter(pk__in=link).first()  # one query


def _subject_link(model):
    """For a form not keyed by subject (the screening CRF): the model that links it to its
    subject (randomization.Allocation: one screening → one subject), found by its foreign
    keys so no app is named here. Only the two key columns are ever read from it, never the arm."""
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and getattr(rel, "field", None) is not None):
            continue
        link_model = rel.related_model
        if link_model._meta.label.endswith("Event") or link_model._meta.app_label == "pghistory":
            continue
        for f in link_model._meta.concrete_fields:
            target = getattr(f, "related_model", None)
            if target is not None and target._meta.label == "core.Subject" and (f.one_to_one or f.unique):
                if rel.field.one_to_one or rel.field.unique:
                    return link_model, rel.field.attname, f.attname
    return None


def site_of(instance):
    crf = crf_of(instance)
    if crf.subject_field:
        return follow(instance, crf.subject_field).site
    return instance.site


def site_id_of(instance) -> int:
    crf = crf_of(instance)
    if crf.subject_field:
        return follow(instance, crf.subject_field).site_id
    return instance.site_id


def label_of(instance) -> str:
    subject = subject_of(instance)
    if subject is not None:
        return subject.number
    return str(getattr(instance, "number", instance.pk))


def instances_of_subject(subject) -> list[tuple[registry.CRF, list[models.Model]]]:
    """Every CRF instance of a subject, form by form (one query per registered form)."""
    out = []
    for crf in registry.all_crfs():
        if crf.subject_field:
            rows = list(crf.model.objects.filter(**{crf.subject_field: subject}).order_by("pk"))
        else:
            rows = [r for r in _unkeyed_rows_of_subject(crf, subject)]
        out.append((crf, rows))
    return out


def _unkeyed_rows_of_subject(crf, subject):
    link = _subject_link(crf.model)
    if link is None:
        return []
    link_model, to_crf, to_subject = link
    ids = link_model.objects.filter(**{to_subject: subject.pk}).values(to_crf)
    return list(crf.model.objects.filter(pk__in=ids))  # one query


def get_instance(code: str, pk: int):
    crf = registry.get(code)
    qs = crf.model.objects.all()
    if crf.subject_field:
        qs = qs.select_related(f"{crf.subject_field}__site")
    else:
        qs = qs.select_related("site")
    return crf, qs.get(pk=pk)
