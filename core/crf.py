"""The registry of case report forms: one place that lists every CRF model, its visit and
whether it reveals the treatment arm.

Data management (queries, SDV, signatures, locks, edit checks), exports (CSV, ODM, XPT/DTA/SAV,
data dictionary) and the casebook all iterate this registry instead of naming models, so a
new form is added in one place. Apps register their forms in their AppConfig.ready().

Conventions for a registered CRF model:
- a `version` PositiveIntegerField (optimistic locking: a save states the version it read);
- a foreign key to core.Subject named by `subject_field` (the screening CRF has none: it is
  keyed by its screening number);
- tracked with audit.tracking.track() (pghistory events, no hard delete);
- verbose_name and help_text on every field (labels, units and ranges for the dictionary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, CRF] = {}


def register(crf: CRF) -> CRF:
    existing = _REGISTRY.get(crf.code)
    if existing is not None and existing.model is not crf.model:
        raise ValueError(f"CRF code {crf.code} is already registered for {existing.model}")
    _REGISTRY[crf.code] = crf
    return crf


def all_crfs() -> list[CRF]:
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.code))


def get(code: str) -> CRF:
    return _REGISTRY[code]


def for_model(model: type[models.Model]) -> CRF | None:
    for crf in _REGISTRY.values():
        if crf.model is model or isinstance(model, crf.model.__class__) and model is crf.model:
            return crf
    return None
