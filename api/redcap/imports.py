"""REDCap `content=record&action=import`: changes to saved forms, through the forms' own write
path (datamanagement's update services → the form's save service → crf_write: access, lock,
optimistic version, reason for change, hard and soft edit checks, SDV and signature upkeep).

Nothing is decided here a second time: who may enter a form at a site is
datamanagement.permissions.can_enter; the services refuse what they refuse. This module
parses REDCap rows, compares them with the saved values (unchanged values are not written),
and answers with REDCap's counts — or with every refused field and its rule.

Limits (said in the error, not silently ignored): a form that was never entered is entered in
the EDC (its first save needs the form's own workflow); the subject, randomization, derived
and bookkeeping fields are read-only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from api.exceptions import ParameterInvalid
from api.redcap.project import RECORD_ID, Instrument, Project, raw_expression
from core.exceptions import DomainError, HardCheckFailed
from datamanagement.crfs import field_names
from datamanagement.permissions import can_enter
from exports.columns import subject_ref

KEYS = {RECORD_ID, "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"}


class ImportRefused(ParameterInvalid):
    def __init__(self, problems: list[dict], written: int = 0):
        self.fields = problems
        lines = [f"{p['record']} {p['field']}: {p['rule']}" for p in problems]
        prefix = f"{written} change(s) were saved before this refusal; " if written else ""
        super().__init__(prefix + "The import was refused: " + " | ".join(lines))


@dataclass
class Change:
    record: str
    instrument: Instrument
    instance: object
    values: dict = field(default_factory=dict)  # model field name → cleaned value
    labels: list = field(default_factory=list)  # REDCap field names changed


@dataclass
class ImportResult:
    body: str
    records: int
    fields: list[str]


def _rows(data, fmt: str) -> list[dict]:
    text = data.get("data") or ""
    if not text.strip():
        raise ParameterInvalid("The parameter \"data\" is empty: nothing to import.")
    if (data.get("type") or "flat") != "flat":
        raise ParameterInvalid("Only type=flat is supported for record import.")
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterInvalid(f"The parameter \"data\" is not valid JSON: {exc.msg} at position {exc.pos}.") \
                from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ParameterInvalid("The parameter \"data\" must be a JSON array of objects (one per row).")
        return [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in rows]
    if fmt == "csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    raise ParameterInvalid("Record import takes format=json or format=csv.")


def _parse(f, text: str):
    """A REDCap raw value → the Python value the model field cleans."""
    if text == "":
        return None
    if f.kind == "boolean":
        if text not in ("0", "1"):
            raise ValidationError(f"expected 1 (yes) or 0 (no); found {text!r}")
        return text == "1"
    if f.kind == "datetime":
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
            except ValueError:
                continue
        raise ValidationError(f"expected YYYY-MM-DD HH:MM:SS (UTC); found {text!r}")
    if f.kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValidationError(f"expected JSON; found {text!r}") from None
    return text


def _current(project: Project, inst: Instrument, subject) -> list:
    """The instrument's saved rows of one subject, each (instance object, raw values by field)."""
    crf = inst.crf
    ref = subject_ref(crf)
    qs = ref.for_subjects(crf.model._default_manager.all(), [subject.pk]).order_by("pk")
    objects = list(qs)
    values = dict((row[0], row[1:]) for row in qs.values_list("pk", *[raw_expression(f.source) for f in inst.fields]))
    return [(obj, {f.name: values[obj.pk][n] for n, f in enumerate(inst.fields)}) for obj in objects]


def _checkbox_column(project: Project, f, name: str, text: str, subject, overwrite: bool, cache) -> str | None:
    """A checkbox column (`field___code`) of an import: accepted when it states what is saved
    (an exported record imported back), refused otherwise — the multi-choice lists are set by
    their form's own workflow (the screening's verdict and closing), never by import."""
    from api.redcap.records import _codes

    code = name.rsplit("___", 1)[1]
    choice = next((c for c, _label in f.choices if c.lower() == code), None)
    if choice is None:
        return f"not a choice of the checkbox field {f.name}"
    if text == "" and not overwrite:
        return None
    if text not in ("0", "1"):
        return f"a checkbox column takes 1 (checked) or 0 (unchecked); found {text!r}"
    inst = project.instrument_by_name[f.form]
    key = (inst.name, subject.pk)
    if key not in cache:
        cache[key] = _current(project, inst, subject) if subject.site_id in inst.site_ids else []
    saved = cache[key][0][1].get(f.name) if cache[key] else None
    if saved is not None and (choice in _codes(saved)) == (text == "1"):
        return None
    return f"read-only: the multi-choice list {f.name} is set by its form's own workflow, not by import"


def import_records(*, project: Project, data, fmt: str) -> ImportResult:
    from followup.selectors import subjects_for

    rows = _rows(data, fmt)
    overwrite = (data.get("overwriteBehavior") or "normal") == "overwrite"
    reason = (data.get("reason") or "").strip()
    problems: list[dict] = []
    changes: list[Change] = []
    records: list[str] = []
    by_field = {f.name: f for f in project.fields}
    subjects = {s.number: s for s in subjects_for(project.user).filter(
        number__in={r.get(RECORD_ID, "") for r in rows})}
    cache: dict = {}
    for n, row in enumerate(rows, start=1):
        record = (row.get(RECORD_ID) or "").strip()
        if not record:
            problems.append({"record": f"row {n}", "field": RECORD_ID, "rule": "the record id (subject number) is required"})
            continue
        subject = subjects.get(record)
        if subject is None:
            problems.append({"record": record, "field": RECORD_ID, "rule": "no such record among the subjects you may see"})
            continue
        if record not in records:
            records.append(record)
        repeat_inst = (row.get("redcap_repeat_instrument") or "").strip()
        instance_no = (row.get("redcap_repeat_instance") or "").strip()
        event = (row.get("redcap_event_name") or "").strip()
        touched: dict[str, Change] = {}
        for name, text in row.items():
            if name in KEYS or name.endswith("_complete") and name[:-9] in project.instrument_by_name:
                continue
            text = (text or "").strip()
            f = by_field.get(name)
            if f is None and "___" in name and by_field.get(name.rsplit("___", 1)[0]) is not None \
                    and by_field[name.rsplit("___", 1)[0]].checkbox:
                problem = _checkbox_column(project, by_field[name.rsplit("___", 1)[0]], name, text, subject,
                                           overwrite, cache)
                if problem:
                    problems.append({"record": record, "field": name, "rule": problem})
                continue
            if f is None:
                problems.append({"record": record, "field": name, "rule": "not a field of this project (or not one you may see)"})
                continue
            if text == "" and not overwrite:
                continue
            inst = project.instrument_by_name[f.form]
            if inst.kind != "crf":
                problems.append({"record": record, "field": name,
                                 "rule": "read-only: subject, randomization and adjudication data are written by their own services"})
                continue
            if event and event != f"{inst.event.lower()}_arm_1":
                problems.append({"record": record, "field": name, "rule": f"belongs to event {inst.event.lower()}_arm_1, not {event}"})
                continue
            if inst.repeating and repeat_inst != inst.name:
                problems.append({"record": record, "field": name,
                                 "rule": f"belongs to the repeating instrument {inst.name}: give redcap_repeat_instrument and redcap_repeat_instance"})
                continue
            if f.source is None or f.source.source not in field_names(inst.crf):
                problems.append({"record": record, "field": name, "rule": "read-only: derived or bookkeeping field"})
                continue
            if subject.site_id not in inst.site_ids or not can_enter(project.user, inst.crf, subject.site_id):
                problems.append({"record": record, "field": name, "rule": "you may not enter this form at this subject's site"})
                continue
            key = (inst.name, subject.pk)
            if key not in cache:
                cache[key] = _current(project, inst, subject)
            saved = cache[key]
            if inst.repeating:
                try:
                    index = int(instance_no) - 1
                except ValueError:
                    index = -1
                target = saved[index] if 0 <= index < len(saved) else None
            else:
                target = saved[0] if saved else None
            if target is None:
                problems.append({"record": record, "field": name,
                                 "rule": "this form has not been entered yet; enter it in the EDC first (the API changes saved forms)"})
                continue
            obj, current = target
            old = "" if current[name] is None else str(current[name])
            if text == old:
                continue
            model_field = inst.crf.model._meta.get_field(f.source.source)
            try:
                value = _parse(f, text)
                cleaned = model_field.clean(value, obj) if value not in ("", None) else None
            except ValidationError as exc:
                problems.append({"record": record, "field": name, "rule": " ".join(exc.messages)})
                continue
            if cleaned is None and not model_field.null:
                cleaned = "" if model_field.get_internal_type() in ("CharField", "TextField") else model_field.get_default()
            change = touched.setdefault(inst.name, Change(record, inst, obj))
            change.values[model_field.name] = cleaned
            change.labels.append(name)
        changes.extend(touched.values())
    if changes and not reason:
        problems.extend({"record": c.record, "field": label,
                         "rule": "reason for change: the parameter \"reason\" is required to change saved data"}
                        for c in changes for label in c.labels)
    if problems:
        raise ImportRefused(problems)
    written = 0
    for change in changes:
        try:
            _write(project, change, reason)
        except ImportRefused as exc:
            raise ImportRefused(exc.fields, written=written) from None
        written += 1
    ids = records
    content = (data.get("returnContent") or "count").strip()
    if content == "ids":
        body = json.dumps(ids)
    elif content == "nothing":
        body = ""
    else:
        body = json.dumps({"count": len(ids)})
    return ImportResult(body=body, records=len(ids), fields=[f"{c.record}:{lbl}" for c in changes for lbl in c.labels])


def _write(project: Project, change: Change, reason: str) -> None:
    """One saved form changed through its update service (the one write path: the same guard
    and checks as the form page and the query corrections), in one transaction."""
    from datamanagement.services import crf_values_update

    instance = change.instance
    values = dict(change.values)
    for name, value in values.items():
        if isinstance(value, dt.datetime) and timezone.is_naive(value):
            values[name] = timezone.make_aware(value, dt.UTC)
    try:
        crf_values_update(user=project.user, instance=instance, values=values, reason=reason)
    except HardCheckFailed as exc:
        by_model = {f.source.name: f.name for f in change.instrument.fields if f.source is not None}
        raise ImportRefused([{"record": change.record, "field": by_model.get(name, name), "rule": " ".join(rules)}
                             for name, rules in exc.by_field().items()]) from None
    except PermissionDenied as exc:
        raise ImportRefused([{"record": change.record, "field": ", ".join(change.labels),
                              "rule": str(exc) or "not permitted"}]) from None
    except DomainError as exc:
        raise ImportRefused([{"record": change.record, "field": ", ".join(change.labels), "rule": str(exc)}]) from None
