"""The registry of case report forms: the only description of a form.

Each entry says what a form is (code, model, visit, label, repeating or not), who enters it,
whether it reveals the arm, which of its fields are derived rather than entered, its edit
checks (hard and soft, core.protocol numbers), the form class that lays it out, and the
services that create and update it. Data management (queries, SDV, signatures, locks, edit
checks, corrections), exports (CSV, ODM, XPT/DTA/SAV, data dictionary), the audit viewer and
the casebook all iterate this registry instead of naming models, so nothing keeps a parallel
table keyed by form. Apps register their forms in their AppConfig.ready().

Conventions for a registered CRF model:
- a `version` PositiveIntegerField (optimistic locking: a save states the version it read);
- a foreign key to core.Subject named by `subject_field` (the screening CRF has none: it is
  keyed by its screening number);
- tracked with audit.tracking.track() (pghistory events, no hard delete);
- verbose_name and help_text on every field (labels, units and ranges for the dictionary).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models


@dataclass(frozen=True)
class CRF:
    code: str  # stable OID-like code: "SCREENING", "V1_PROCEDURE", "V2_24H", ...
    model: type[models.Model]
    label: str
    visit: str | None = None  # "V0".."V5"; None for event forms (AE, death, deviation...)
    subject_field: str | None = "subject"
    repeating: bool = False  # event forms and passes: several rows per subject
    # Forms whose content reveals the arm (the procedure CRF: a stent was placed or not) are
    # never shown or exported to blinded users, and none of their fields may be queried by them.
    reveals_arm: bool = False
    # Fields that are themselves the arm or derived from it (dropped from blinded exports).
    arm_fields: tuple[str, ...] = ()
    # Roles that enter this form; the day-90 form is the blinded assessor's alone.
    entered_by: tuple[str, ...] = ("coordinator", "investigator")
    order: int = 100
    # The casebook's short code of the form (the URL part: "V1".."V5", "AE", "DEATH" ...) and
    # its short title there; None for forms without a page of their own (the procedure passes).
    page: str | None = None
    title: str = ""
    # Fields computed by the save service (totals, classifications, workflow), not entered:
    # not queried, not source-verified, their change alone needs no reason.
    derived_fields: tuple[str, ...] = ()
    # Edit checks of this form (datamanagement.editchecks.Check, hard and soft). Run by the one
    # write guard on every save, whatever the path (entry, edit, query correction, import).
    checks: tuple = ()
    # Other forms of the same subject whose values the checks compare with (codes).
    context_forms: tuple[str, ...] = ()
    # The Django form class that lays the form out (None: no page of its own).
    form_class: Any = None
    # The form page's save service (durable): save(*, subject, user, data, version, reason[, pk]).
    save: Callable | None = None
    # The form's own save, in the caller's transaction, given the current values merged with
    # the change: update(*, instance, user, data: dict, reason: str) -> instance. A correction
    # through a query calls it, so derived values are recomputed and every check runs.
    update: Callable | None = None
    # Create a new row: create(*, subject, user, data: dict, reason: str) -> instance
    # (repeating event forms; used e.g. to file a deviation an edit check detected).
    create: Callable | None = None
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, CRF] = {}


def register(crf: CRF) -> CRF:
    existing = _REGISTRY.get(crf.code)
    if existing is not None and existing.model is not crf.model:
        raise ValueError(f"CRF code {crf.code} is already registered for {existing.model}")
    _REGISTRY[crf.code] = crf
    return crf


def replace(code: str, **changes) -> CRF:
    """Re-register a form with some attributes changed (tests add a field or a check)."""
    import dataclasses

    crf = dataclasses.replace(_REGISTRY[code], **changes)
    _REGISTRY[code] = crf
    return crf


def all_crfs() -> list[CRF]:
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.code))


def get(code: str) -> CRF:
    return _REGISTRY[code]


def for_model(model: type[models.Model]) -> CRF | None:
    model = model._meta.concrete_model
    for crf in _REGISTRY.values():
        if crf.model._meta.concrete_model is model:
            return crf
    return None


def by_page(page: str) -> CRF:
    """The form of a casebook page code ("V5", "AE" ...)."""
    for crf in _REGISTRY.values():
        if crf.page == page:
            return crf
    raise KeyError(page)


def pages() -> list[CRF]:
    """Forms with a casebook page, in order."""
    return [c for c in all_crfs() if c.page]


def visit_pages() -> list[CRF]:
    """The casebook's visit forms V1–V5 (one row per subject), in order."""
    return [c for c in pages() if c.visit and c.visit != "V0" and not c.repeating]


def event_pages(*, repeating: bool) -> list[CRF]:
    return [c for c in pages() if not c.visit and c.repeating == repeating]


def with_flag(flag: str) -> CRF | None:
    """The form that declares a role by CRF(extra={flag: True}) (e.g. "records_deviations")."""
    for crf in all_crfs():
        if crf.extra.get(flag):
            return crf
    return None
