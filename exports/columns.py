"""The variables of an export, read from the CRF registry (core.crf) — no per-form code.

Each registered CRF becomes a table. Its columns are: the key columns every table shares
(subject number, site, visit code; the screening form also its screening number), then one
column per concrete model field, described by the field itself:

- label: verbose_name; unit, range, "none" codes and SAS names: declared in the data
  dictionary (exports.metadata — never parsed from a label);
- allowed values: choices (a code list) and the declared range, else Min/MaxValueValidators;
- type: from the field class; width of character variables: from the field's max_length
  (three UTF-8 bytes a character) or the declared free-text width, never from the data.

Blinding: a blinded export drops every CRF with `reveals_arm` and every field named in
`arm_fields` (SPEC §2, §9). The caller decides `blinded`; this module only obeys it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core import validators
from django.db import models
from django.db.models import F, OuterRef, Subquery

from core.crf import CRF, all_crfs
from exports import metadata

# Internal bookkeeping that is not clinical data (optimistic-locking counter).
SKIPPED_FIELDS = {"version"}


@dataclass(frozen=True)
class Column:
    name: str  # variable name in every format (lower case, ≤ 32 characters, unique per table)
    label: str
    kind: str  # text | integer | float | decimal | boolean | date | datetime | time | json
    source: str  # ORM lookup for values_list()
    form: str = ""
    visit: str = ""
    unit: str = ""
    choices: tuple[tuple[object, str], ...] = ()
    minimum: object = None
    maximum: object = None
    help: str = ""
    key: bool = False  # a key column (subject, site, visit), not a CRF field
    width: int = 0  # bytes of a character variable in fixed-width formats (0: declared default)
    # Stored value → exported code, for declared codes (a "none" stored as "").
    recode: tuple[tuple[object, object], ...] = ()

    @property
    def allowed(self) -> str:
        if self.choices:
            return "; ".join(f"{code} = {label}" for code, label in self.choices)
        if self.kind == "boolean":
            return "1 = Yes; 0 = No"
        if self.minimum is not None or self.maximum is not None:
            lo = "" if self.minimum is None else self.minimum
            hi = "" if self.maximum is None else self.maximum
            return f"{lo}–{hi}{(' ' + self.unit) if self.unit else ''}"
        return ""


@dataclass(frozen=True)
class Table:
    code: str
    label: str
    visit: str
    crf: CRF | None
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def filename(self) -> str:
        return self.code.lower()


def _kind(f: models.Field) -> str:
    if isinstance(f, models.BooleanField):
        return "boolean"
    if isinstance(f, models.DateTimeField):
        return "datetime"
    if isinstance(f, models.DateField):
        return "date"
    if isinstance(f, models.TimeField):
        return "time"
    if isinstance(f, models.DecimalField):
        return "decimal"
    if isinstance(f, models.FloatField):
        return "float"
    if isinstance(f, models.IntegerField | models.AutoField):
        return "integer"
    if isinstance(f, models.JSONField):
        return "json"
    return "text"


def unit_of(crf: CRF, f: models.Field) -> str:
    """The declared unit (exports.metadata, or the registry's `extra["units"]`): never parsed
    from the label or the help text."""
    return metadata.declared_unit(crf.code, f.name.lower(), crf.extra.get("units"))


def _range(f: models.Field, table: str = "") -> tuple[object, object]:
    declared = metadata.declared_range(table, f.name.lower()) if table else None
    if declared is not None:
        return declared
    if f.choices and all(isinstance(k, int) and not isinstance(k, bool) for k, _ in f.flatchoices):
        codes = [k for k, _ in f.flatchoices]
        return min(codes), max(codes)
    lo = hi = None
    # Django adds the column type's own limits (±32767, ±2³¹…) as validators: not a rule of
    # the protocol, so they are left out of the dictionary.
    for v in f.validators:
        limit = v.limit_value() if callable(getattr(v, "limit_value", None)) else getattr(v, "limit_value", None)
        if isinstance(limit, int | float) and abs(limit) >= 32767:
            continue
        if isinstance(v, validators.MinValueValidator):
            lo = limit
        elif isinstance(v, validators.MaxValueValidator):
            hi = limit
    if lo is None and isinstance(f, models.PositiveIntegerField | models.PositiveSmallIntegerField
                                 | models.PositiveBigIntegerField):
        lo = 0
    return lo, hi


def _label(f: models.Field) -> str:
    text = str(f.verbose_name or f.name)
    first = text.split(" ", 1)[0]
    # "age (years)" → "Age (years)", but "aPTT", "eTICI", "pc-ASPECTS" stay as written.
    return text[:1].upper() + text[1:] if first.islower() else text


@dataclass(frozen=True)
class SubjectRef:
    """How a CRF's rows reach core.Subject.

    Either an ORM path (`subject_field`, or a one-to-one to core.Subject), or — for the
    screening CRF — a link table found generically: a model with a one-to-one to the CRF's
    model and a key to core.Subject (the randomization's Allocation). The link is read
    through a subquery selecting only its two keys, because the Allocation deliberately has
    no reverse accessors (nothing may reach the arm from a screening or subject), and this
    must not need one either.
    """

    path: str | None = None
    link_model: type[models.Model] | None = None
    link_crf_field: str = ""
    link_subject_field: str = ""

    def _link(self):
        return self.link_model._default_manager.filter(**{self.link_crf_field: OuterRef("pk")}).order_by()

    def number_expr(self):
        if self.path:
            return F(f"{self.path}__number")
        return Subquery(self._link().values(f"{self.link_subject_field}__number")[:1])

    def id_expr(self):
        if self.path:
            return F(f"{self.path}__id")
        return Subquery(self._link().values(f"{self.link_subject_field}_id")[:1])

    def for_subjects(self, qs, subject_ids):
        if self.path:
            return qs.filter(**{f"{self.path}__in": subject_ids})
        linked = self.link_model._default_manager.filter(
            **{f"{self.link_subject_field}__in": subject_ids}).values(f"{self.link_crf_field}_id")
        return qs.filter(pk__in=linked)

    def unlinked(self, qs):
        if self.path:
            return qs.filter(**{f"{self.path}__isnull": True})
        linked = self.link_model._default_manager.values(f"{self.link_crf_field}_id")
        return qs.exclude(pk__in=linked)


_REFS: dict[tuple, SubjectRef | None] = {}


def subject_ref(crf: CRF) -> SubjectRef | None:
    key = (crf.code, crf.model, crf.subject_field)
    if key not in _REFS:
        _REFS[key] = _find_subject_ref(crf)
    return _REFS[key]


def _find_subject_ref(crf: CRF) -> SubjectRef | None:
    from django.apps import apps

    from core.models import Subject

    if crf.subject_field:
        return SubjectRef(path=crf.subject_field)
    model = crf.model
    for f in model._meta.get_fields():
        if f.is_relation and f.one_to_one and f.related_model is Subject and f.concrete:
            return SubjectRef(path=f.name)
    for candidate in apps.get_models():
        to_crf = [f for f in candidate._meta.concrete_fields
                  if f.is_relation and f.one_to_one and f.related_model is model]
        to_subject = [f for f in candidate._meta.concrete_fields
                      if f.is_relation and f.related_model is Subject]
        if to_crf and to_subject:
            return SubjectRef(link_model=candidate, link_crf_field=to_crf[0].name,
                              link_subject_field=to_subject[0].name)
    return None


def subject_path(crf: CRF) -> str | None:
    ref = subject_ref(crf)
    return ref.path if ref else None


def site_filter_path_of(crf: CRF) -> str | None:
    model = crf.model
    names = {f.name for f in model._meta.get_fields()}
    if "site" in names:
        return "site"
    sp = subject_path(crf)
    return f"{sp}__site" if sp else None


_TABLES: dict[tuple, Table] = {}


def table_for(crf: CRF, *, blinded: bool) -> Table:
    """The columns of one CRF's table (arm fields removed when blinded). Built once per form,
    blinding and language (a Table is immutable; its labels are translated when built)."""
    from django.utils.translation import get_language

    key = (crf.code, crf.model, blinded, get_language())
    if key not in _TABLES:
        _TABLES[key] = _build_table(crf, blinded=blinded)
    return _TABLES[key]


def _build_table(crf: CRF, *, blinded: bool) -> Table:
    model = crf.model
    sp = subject_path(crf)
    site_path = site_filter_path_of(crf)
    visit = crf.visit or ""
    cols: list[Column] = [
        Column("subject_number", "Subject number", "text", f"{sp}__number" if sp else "",
               form=crf.code, visit=visit, key=True),
        Column("site", "Site code", "text", f"{site_path}__code" if site_path else "",
               form=crf.code, visit=visit, key=True),
        Column("site_tz", "Site time zone (IANA; dates are this zone's calendar dates)", "text",
               f"{site_path}__time_zone" if site_path else "", form=crf.code, visit=visit,
               key=True),
        Column("visit", "Visit code", "text", "", form=crf.code, visit=visit, key=True),
        Column("record_id", "Record id", "integer", "pk", form=crf.code, visit=visit, key=True),
    ]
    taken = {c.name for c in cols}
    skip = set(SKIPPED_FIELDS)
    if crf.subject_field:
        skip.add(crf.subject_field)
    if site_path == "site":
        skip.add("site")
    if blinded:
        skip |= set(crf.arm_fields)
    for f in model._meta.concrete_fields:
        if f.primary_key or f.name in skip:
            continue
        if f.is_relation:
            target = f.related_model
            if target._meta.label == "core.User":
                source, kind = f"{f.name}__username", "text"
            elif target._meta.label == "core.Site":
                source, kind = f"{f.name}__code", "text"
            elif target._meta.label == "core.Subject":
                source, kind = f"{f.name}__number", "text"
            else:
                source, kind = f"{f.name}_id", "integer"
        else:
            source, kind = f.name, _kind(f)
        name = f.name.lower()[:32]
        if name in taken:
            name = f"{crf.code.lower()}_{name}"[:32]
        taken.add(name)
        lo, hi = _range(f, crf.code)
        choices = tuple((code, str(label)) for code, label in f.flatchoices) if f.choices else ()
        choices = metadata.declared_choices(crf.code, name, choices)
        recode = tuple(metadata.export_value_map(crf.code, name).items())
        width = 0
        if kind == "text" and getattr(f, "max_length", None):
            width = min(f.max_length * 3, 32767)
        elif kind == "text" and f.is_relation:
            width = 150  # usernames, site codes, subject numbers (≤ 150 characters)
        cols.append(Column(
            name=name, label=_label(f), kind=kind, source=source, form=crf.code, visit=visit,
            unit=unit_of(crf, f), choices=choices, minimum=lo, maximum=hi,
            help=str(f.help_text or ""), width=width, recode=recode,
        ))
    return Table(code=crf.code, label=str(crf.label), visit=visit, crf=crf, columns=tuple(cols))


def exported_crfs(*, blinded: bool, codes: list[str] | None = None) -> list[CRF]:
    """Registered CRFs in registry order; blinded exports never include arm-revealing forms."""
    out = []
    for crf in all_crfs():
        if codes and crf.code not in codes:
            continue
        if blinded and crf.reveals_arm:
            continue
        out.append(crf)
    return out


def tables(*, blinded: bool, codes: list[str] | None = None) -> list[Table]:
    """The tables of an export: one per CRF, and — unblinded only — the randomization."""
    out = [table_for(crf, blinded=blinded) for crf in exported_crfs(blinded=blinded, codes=codes)]
    if not blinded:
        rand = randomization_table()
        if rand is not None:
            out.insert(0, rand)
    return out


RANDOMIZATION = "RANDOMIZATION"


def randomization_table() -> Table | None:
    """The randomization of each subject (arm, stratum, method, instant, who, the list entry
    used) as a table of its own — in unblinded exports only (tables() never gives it to a
    blinded one). Not a CRF: nobody enters it; it is read from randomization.Allocation."""
    from django.apps import apps
    from django.utils.translation import get_language

    try:
        model = apps.get_model("randomization", "Allocation")
    except LookupError:
        return None
    key = (RANDOMIZATION, model, False, get_language())
    if key in _TABLES:
        return _TABLES[key]
    crf = CRF(code=RANDOMIZATION, model=model, label="Randomization", visit="V0",
              subject_field="subject", reveals_arm=True, arm_fields=("arm",), entered_by=(),
              order=1, extra={"audit": ("randomized_by_id", "randomized_at", "Randomized")})
    choices = {f.name: tuple((k, str(v)) for k, v in f.flatchoices)
               for f in model._meta.concrete_fields if f.choices}
    v, T = "V0", RANDOMIZATION

    def col(name, label, kind, source, **kw):
        return Column(name, label, kind, source, form=T, visit=v, **kw)

    cols = (
        col("subject_number", "Subject number", "text", "subject__number", key=True),
        col("site", "Site code", "text", "subject__site__code", key=True),
        col("site_tz", "Site time zone (IANA; dates are this zone's calendar dates)", "text",
            "subject__site__time_zone", key=True),
        col("visit", "Visit code", "text", "", key=True),
        col("record_id", "Record id", "integer", "pk", key=True),
        col("arm", "Treatment arm", "text", "arm", choices=choices.get("arm", ())),
        col("stratum", "Randomization stratum (site-circulation)", "text", "stratum", width=48),
        col("rand_method", "Randomization method", "text", "method",
            choices=choices.get("method", ())),
        col("randomized_at", "Randomized at", "datetime", "randomized_at"),
        col("randomized_by", "Randomized by", "text", "randomized_by__username", width=150),
        col("list_name", "Allocation list (blocks; empty for minimisation)", "text",
            "entry__list__name", width=360),
        col("list_sequence", "Allocation list entry: sequence within the stratum", "integer",
            "entry__sequence"),
        col("list_block", "Allocation list entry: block", "integer", "entry__block"),
        col("list_block_size", "Allocation list entry: block size", "integer",
            "entry__block_size"),
    )
    _TABLES[key] = Table(code=T, label="Randomization", visit=v, crf=crf, columns=cols)
    return _TABLES[key]
