"""The trial as a REDCap project, seen by one user: instruments, events, fields, metadata.

Nothing here is decided a second time. The forms and their variables come from the CRF
registry through the exports' column model (exports.columns, the same one the data dictionary
uses); who may read which form at which site comes from datamanagement.permissions, and
whether the arm may reach this person from core.blinding (the one rule for outbound text); the subjects from followup.selectors.subjects_for; the arm only through
randomization.selectors. This module only translates those answers into REDCap's vocabulary:

- the record id (first field) is the subject number;
- visits are events (`v0_arm_1` … `v5_arm_1`; the event forms in `events_arm_1`); REDCap's
  "arm" is the single study arm "Study" — it is NOT the treatment arm;
- repeating forms (passes, adverse events, deviations) are repeating instruments;
- the randomization (arm, stratum, time) is an instrument of its own, present only for a user
  who may see the arm at some site, and filled only for subjects of those sites;
- the central adjudication is an instrument of its own (api.redcap.adjudication), for those
  who may see adjudication results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from django.db.models import Case, F, Func, TextField, Value, When
from django.db.models.functions import Cast

from core import blinding
from core import crf as registry
from core.models import Site
from core.roles import Action
from datamanagement.permissions import can_view_crf
from exports.columns import Column, Table, site_filter_path_of, subject_ref, table_for

RECORD_ID = "subject_number"
EVENTS_CODE = "events"
STUDY_ARM = {"arm_num": 1, "name": "Study"}
SUBJECT_INSTRUMENT = "subject"
RANDOMIZATION_INSTRUMENT = "randomization"
# REDCap 14 speaks this API; clients (PyCap, REDCapR) only check that a version is returned.
REDCAP_VERSION = "14.0.0"


@dataclass(frozen=True)
class Field:
    name: str  # REDCap field name (unique in the project)
    form: str  # instrument name
    label: str
    kind: str  # exports.columns.Column.kind
    source: Column | None = None
    choices: tuple[tuple[str, str], ...] = ()
    note: str = ""
    minimum: object = None
    maximum: object = None
    checkbox: bool = False  # a multi-choice list: one export column per choice (name___code)

    @property
    def field_type(self) -> str:
        if self.checkbox:
            return "checkbox"
        if self.choices:
            return "dropdown"
        if self.kind == "boolean":
            return "yesno"
        if self.kind == "json":
            return "notes"
        return "text"

    @property
    def validation(self) -> str:
        if self.choices:
            return ""
        return {"integer": "integer", "float": "number", "decimal": "number", "date": "date_ymd",
                "datetime": "datetime_seconds_ymd", "time": "time"}.get(self.kind, "")

    @property
    def choices_text(self) -> str:
        return " | ".join(f"{code}, {label}" for code, label in self.choices)

    def export_names(self) -> list[str]:
        """The export columns of the field: itself, or one per choice for a checkbox field
        (REDCap's `field___code`, the code in lower case)."""
        if not self.checkbox:
            return [self.name]
        return [checkbox_column(self.name, code) for code, _label in self.choices]

    @cached_property
    def labels(self) -> dict[str, str]:
        if self.kind == "boolean":
            return {"1": "Yes", "0": "No"}
        return {str(code): str(label) for code, label in self.choices}


@dataclass
class Instrument:
    name: str
    label: str
    event: str  # visit code ("V0".."V5") or EVENTS_CODE
    kind: str  # "subject" | "randomization" | "adjudication" | "crf"
    repeating: bool = False
    crf: registry.CRF | None = None
    table: Table | None = None
    fields: list[Field] = field(default_factory=list)
    site_ids: tuple[int, ...] = ()  # sites whose rows this user may read
    arm_blind_site_ids: tuple[int, ...] = ()  # of those, sites where arm fields are blanked

    @property
    def complete_field(self) -> str:
        return f"{self.name}_complete"


@dataclass(frozen=True)
class Event:
    code: str  # "V0".., "events"
    label: str

    @property
    def unique_name(self) -> str:
        return f"{self.code.lower()}_arm_1"


def checkbox_column(name: str, code: str) -> str:
    return f"{name}___{str(code).lower()}"


# Multi-choice lists of the forms, exported as REDCap checkbox fields: the screening's failed
# eligibility criteria (derived) and the criteria named when a screening is closed as
# ineligible. Choices: the protocol's criteria (eligibility.rules.CRITERIA), code and title.
CHECKBOX_COLUMNS = {("SCREENING", "verdict_failed"), ("SCREENING", "closed_reason_codes")}


def _criteria_choices() -> tuple[tuple[str, str], ...]:
    from eligibility.rules import CRITERIA

    return tuple((code, str(title)) for code, title, _run in CRITERIA)


def instrument_name(crf: registry.CRF) -> str:
    return crf.code.lower()


def _event_code(crf: registry.CRF) -> str:
    return crf.visit or EVENTS_CODE


def _crf_tables() -> list[tuple[registry.CRF, Table]]:
    """Every registered CRF with its full column set (names must not depend on the user)."""
    return [(crf, table_for(crf, blinded=False)) for crf in registry.all_crfs()
            if subject_ref(crf) is not None and site_filter_path_of(crf) is not None]


def _data_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if not c.key]


def field_names_map() -> dict[tuple[str, str], str]:
    """(instrument, column) → REDCap field name: the column's own name where unique in the
    project, else prefixed with the instrument name. The same for every user."""
    counts: dict[str, int] = {RECORD_ID: 1}
    pairs = []
    for crf, table in _crf_tables():
        for c in _data_columns(table):
            pairs.append((instrument_name(crf), c.name))
            counts[c.name] = counts.get(c.name, 0) + 1
    for name in SUBJECT_FIELDS + RANDOMIZATION_FIELDS:
        counts[name[0]] = counts.get(name[0], 0) + 1
    out = {}
    for inst, col in pairs:
        out[(inst, col)] = col if counts[col] == 1 else f"{inst}_{col}"
    return out


SUBJECT_FIELDS = [("site", "Site code", "text"), ("subject_status", "Subject status", "text")]
RANDOMIZATION_FIELDS = [("rand_arm", "Treatment arm", "text"), ("rand_stratum", "Stratum", "text"),
                        ("rand_randomized_at", "Randomized at (UTC)", "datetime")]


def _subject_status_choices():
    from core.models import SubjectStatus

    return tuple((str(v), str(label)) for v, label in SubjectStatus.choices)


def _arm_choices():
    from randomization.models import Arm

    return tuple((str(v), str(label)) for v, label in Arm.choices)


class Project:
    """The project as `user` may see it (built per request; a handful of queries)."""

    def __init__(self, user):
        self.user = user
        self.site_ids = self._subject_site_ids()
        self.instruments = self._instruments()
        self.fields = [f for inst in self.instruments for f in inst.fields]
        self.field_by_name = {f.name: f for f in self.fields}
        self.instrument_by_name = {i.name: i for i in self.instruments}
        codes = []
        for inst in self.instruments:
            if inst.event not in codes:
                codes.append(inst.event)
        order = {code: i for i, code in enumerate(["V0", "V1", "V2", "V3", "V4", "V5"])}
        codes.sort(key=lambda c: order.get(c, 99))
        self.events = [Event(code, self._event_label(code)) for code in codes]
        self.event_by_name = {e.unique_name: e for e in self.events}

    # --- who sees what (asked of the existing selectors and access rules) -------------------

    def _subject_site_ids(self) -> tuple[int, ...]:
        """The sites of the subjects the user may see (followup.selectors decides)."""
        from followup.selectors import _site_ids

        ids = _site_ids(self.user, Action.VIEW_CRF, Action.ENTER_CRF, Action.ENTER_DAY90)
        if ids is None:
            return tuple(Site.objects.order_by("pk").values_list("pk", flat=True))
        return tuple(sorted(ids))

    def _crf_sites(self, crf: registry.CRF) -> tuple[int, ...]:
        out = []
        for site_id in self.site_ids:
            if not can_view_crf(self.user, crf, site_id):
                continue
            if blinding.reveals_arm(crf=crf) and not blinding.may_see_arm(self.user, site_id):
                continue
            out.append(site_id)
        return tuple(out)

    def _randomization_sites(self) -> tuple[int, ...]:
        if not blinding.may_see_arm(self.user):
            return ()
        return tuple(s for s in self.site_ids if blinding.may_see_arm(self.user, s))

    # --- building ------------------------------------------------------------------------

    def _instruments(self) -> list[Instrument]:
        names = field_names_map()
        subject = Instrument(name=SUBJECT_INSTRUMENT, label="Subject", event="V0", kind="subject",
                             site_ids=self.site_ids)
        subject.fields = [Field(RECORD_ID, SUBJECT_INSTRUMENT, "Subject number", "text",
                                note="The record id: the subject number {site}-{nnnn}.")]
        for name, label, kind in SUBJECT_FIELDS:
            choices = _subject_status_choices() if name == "subject_status" else ()
            subject.fields.append(Field(name, SUBJECT_INSTRUMENT, label, kind, choices=choices))
        out = [subject]
        rand_sites = self._randomization_sites()
        if rand_sites:
            rand = Instrument(name=RANDOMIZATION_INSTRUMENT, label="Randomization", event="V0",
                              kind="randomization", site_ids=rand_sites)
            for name, label, kind in RANDOMIZATION_FIELDS:
                choices = _arm_choices() if name == "rand_arm" else ()
                note = "UTC." if kind == "datetime" else ""
                rand.fields.append(Field(name, RANDOMIZATION_INSTRUMENT, label, kind, choices=choices, note=note))
            out.append(rand)
        blinded = not blinding.may_see_arm(self.user)
        for crf, _full in _crf_tables():
            sites = self._crf_sites(crf)
            if not sites:
                continue
            table = table_for(crf, blinded=blinded)
            inst = Instrument(name=instrument_name(crf), label=str(crf.label), event=_event_code(crf),
                              kind="crf", repeating=crf.repeating, crf=crf, table=table, site_ids=sites,
                              arm_blind_site_ids=tuple(s for s in sites
                                                       if crf.arm_fields and not blinding.may_see_arm(self.user, s)))
            for c in _data_columns(table):
                note_parts = [p for p in (f"Unit: {c.unit}" if c.unit else "", c.help) if p]
                checkbox = (crf.code, c.name) in CHECKBOX_COLUMNS
                choices = _criteria_choices() if checkbox else tuple((str(k), str(v)) for k, v in c.choices)
                inst.fields.append(Field(names[(inst.name, c.name)], inst.name, c.label, c.kind, source=c,
                                         choices=choices, note=" · ".join(note_parts), minimum=c.minimum,
                                         maximum=c.maximum, checkbox=checkbox))
            out.append(inst)
        from api.redcap import adjudication

        adj = adjudication.instrument(self.user, self.site_ids)
        if adj is not None:
            out.append(adj)
        return out

    def _event_label(self, code: str) -> str:
        if code == EVENTS_CODE:
            return "Events (any time)"
        crfs = [i for i in self.instruments if i.event == code and i.kind == "crf" and not i.repeating]
        label = crfs[0].label if crfs else code
        return label if label.upper().startswith(code) else f"{code} {label}"

    # --- REDCap views ----------------------------------------------------------------------

    def metadata_rows(self, *, fields: list[str] | None = None, forms: list[str] | None = None) -> list[dict]:
        rows = []
        for f in self.fields:
            if (fields or forms) and not ((fields and f.name in fields) or (forms and f.form in forms)):
                continue
            rows.append({
                "field_name": f.name, "form_name": f.form, "section_header": "",
                "field_type": f.field_type, "field_label": f.label,
                "select_choices_or_calculations": f.choices_text, "field_note": f.note,
                "text_validation_type_or_show_slider_number": f.validation,
                "text_validation_min": "" if f.minimum is None else str(f.minimum),
                "text_validation_max": "" if f.maximum is None else str(f.maximum),
                "identifier": "", "branching_logic": "", "required_field": "y" if f.name == RECORD_ID else "",
                "custom_alignment": "", "question_number": "", "matrix_group_name": "",
                "matrix_ranking": "", "field_annotation": "",
            })
        return rows

    def instrument_rows(self) -> list[dict]:
        return [{"instrument_name": i.name, "instrument_label": i.label} for i in self.instruments]

    def event_rows(self) -> list[dict]:
        return [{"event_name": e.label, "arm_num": 1, "unique_event_name": e.unique_name,
                 "custom_event_label": "", "event_id": n + 1, "days_offset": 0, "offset_min": 0,
                 "offset_max": 0} for n, e in enumerate(self.events)]

    def form_event_rows(self) -> list[dict]:
        by_code = {e.code: e.unique_name for e in self.events}
        return [{"arm_num": 1, "unique_event_name": by_code[i.event], "form": i.name}
                for i in self.instruments]

    def repeating_rows(self) -> list[dict]:
        by_code = {e.code: e.unique_name for e in self.events}
        return [{"event_name": by_code[i.event], "form_name": i.name, "custom_form_label": ""}
                for i in self.instruments if i.repeating]

    def export_field_rows(self, field_name: str | None = None) -> list[dict]:
        out = []
        for f in self.fields:
            if field_name and f.name != field_name:
                continue
            if f.checkbox:
                out.extend({"original_field_name": f.name, "choice_value": code,
                            "export_field_name": checkbox_column(f.name, code)} for code, _label in f.choices)
            else:
                out.append({"original_field_name": f.name, "choice_value": "", "export_field_name": f.name})
        return out

    def project_info(self) -> dict:
        from django.conf import settings

        return {
            "project_id": 1, "project_title": getattr(settings, "EDC_TRIAL_TITLE", "ANGEL-RESCUE"),
            "creation_time": "", "production_time": "", "in_production": 1,
            "project_language": "English", "purpose": 2, "purpose_other": "",
            "project_notes": "NCT07026344", "custom_record_label": "",
            "secondary_unique_field": "", "is_longitudinal": 1, "has_repeating_instruments_or_events": 1,
            "surveys_enabled": 0, "scheduling_enabled": 0, "record_autonumbering_enabled": 0,
            "randomization_enabled": 0, "ddp_enabled": 0, "project_irb_number": "",
            "project_grant_number": "", "project_pi_firstname": "", "project_pi_lastname": "",
            "display_today_now_button": 1, "missing_data_codes": "", "external_modules": "",
            "bypass_branching_erase_field_prompt": 0,
        }


def raw_expression(c: Column):
    """A column's value formatted by PostgreSQL as REDCap writes it (raw)."""
    if c.kind == "boolean":
        return Case(When(**{c.source: True}, then=Value("1")), When(**{c.source: False}, then=Value("0")),
                    default=None, output_field=TextField())
    if c.kind == "datetime":
        return RedcapDateTime(F(c.source))
    if c.kind == "json":
        return Cast(F(c.source), TextField())
    return F(c.source)


class RedcapDateTime(Func):
    """An instant as REDCap's datetime_seconds_ymd, in UTC."""

    template = """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"""
    output_field = TextField()
