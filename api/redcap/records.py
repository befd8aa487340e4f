"""REDCap `content=record` export, streamed.

Subjects are read in subject-number order through a server-side cursor and handled in
batches: for each batch every visible instrument is read with one query (its rows for those
subjects only), the batch's REDCap rows are written and the batch is dropped. An export of any
size holds one batch in memory (see bench/bench_api.py).
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import F, Q
from django.db.models.functions import Collate

from api.redcap.project import (
    RECORD_ID,
    Field,
    Instrument,
    Project,
    RedcapDateTime,
    raw_expression,
)
from exports.columns import site_filter_path_of, subject_ref

BATCH = 1000
KEY_COLUMNS = [RECORD_ID, "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]

SubjectRow = namedtuple("SubjectRow", "pk number site_id site_code status")


@dataclass
class Selection:
    """What a record export asks for (already validated against the user's project)."""

    records: list[str] | None = None
    fields: list[str] | None = None
    forms: list[str] | None = None
    events: list[str] | None = None
    label: bool = False
    label_headers: bool = False
    checkbox_label: bool = False  # exportCheckboxLabel: a checked box shows its choice label
    event_label: bool = False
    date_begin: dt.datetime | None = None
    date_end: dt.datetime | None = None


@dataclass
class Slot:
    """Where an instrument's values go in the flat row."""

    instrument: Instrument
    positions: list[int]  # header position of each export column
    indexes: list[int]  # index of its field in the fetched tuple
    labels: list[dict | None]
    # per export column: None, or (choice code, the cell when checked, when unchecked) of a
    # checkbox field's column
    boxes: list[tuple[str, object, object] | None]
    complete_position: int | None
    blank_positions: list[int]  # arm fields to blank at arm-blind sites


class RecordExport:
    def __init__(self, project: Project, selection: Selection):
        self.project = project
        self.sel = selection
        self.selected_fields, self.selected_complete = self._selected()
        self.instruments = [i for i in project.instruments
                            if (any(f.name in self.selected_fields for f in i.fields)
                                or i.name in self.selected_complete)]
        wanted_events = set(selection.events or [e.unique_name for e in project.events])
        self.events = [e for e in project.events if e.unique_name in wanted_events]
        self.header: list[str] = list(KEY_COLUMNS)
        self.header_fields: list[Field | None] = [None] * len(KEY_COLUMNS)
        self.slots: dict[str, Slot] = {}
        for inst in self.instruments:
            positions, indexes, labels, blanks, boxes = [], [], [], [], []
            for n, f in enumerate(inst.fields):
                if f.name == RECORD_ID or f.name not in self.selected_fields:
                    continue
                arm_field = inst.crf is not None and f.source is not None and f.source.name in inst.crf.arm_fields
                for column, box in zip(f.export_names(), self._boxes(f), strict=True):
                    positions.append(len(self.header))
                    indexes.append(n)
                    labels.append(f.labels if selection.label and f.labels and box is None else None)
                    boxes.append(box)
                    if arm_field:
                        blanks.append(len(self.header))
                    self.header.append(column)
                    self.header_fields.append(f)
            complete = None
            if inst.name in self.selected_complete:
                complete = len(self.header)
                self.header.append(inst.complete_field)
                self.header_fields.append(None)
            self.slots[inst.name] = Slot(inst, positions, indexes, labels, boxes=boxes,
                                         complete_position=complete, blank_positions=blanks)
        self.records_returned = 0

    def _boxes(self, f: Field) -> list:
        """REDCap's checkbox cells: raw 1/0; labels Checked/Unchecked; with exportCheckboxLabel
        (and labels) the choice's label when checked, blank when not."""
        if not f.checkbox:
            return [None]
        out = []
        for code, label in f.choices:
            if not self.sel.label:
                out.append((code, "1", "0"))
            elif self.sel.checkbox_label:
                out.append((code, label, None))
            else:
                out.append((code, "Checked", "Unchecked"))
        return out

    def _selected(self) -> tuple[set[str], set[str]]:
        p = self.project
        fields = set(self.sel.fields or [])
        forms = set(self.sel.forms or [])
        if not fields and not forms:
            return {f.name for f in p.fields}, {i.name for i in p.instruments}
        names = {f.name for f in p.fields if f.name in fields or f.form in forms} | {RECORD_ID}
        complete = {i.name for i in p.instruments if i.complete_field in fields or i.name in forms}
        return names, complete

    def header_labels(self) -> list[str]:
        out = []
        for name, f in zip(self.header, self.header_fields, strict=True):
            if f is not None and f.checkbox:
                code = name.rsplit("___", 1)[1]
                choice = next(label for c, label in f.choices if c.lower() == code)
                out.append(f"{f.label} (choice={choice})")
            elif f is not None:
                out.append(f.label)
            elif name.endswith("_complete") and name[:-9] in self.project.instrument_by_name:
                out.append(f"Complete? ({self.project.instrument_by_name[name[:-9]].label})")
            else:
                out.append({RECORD_ID: "Subject number", "redcap_event_name": "Event Name",
                            "redcap_repeat_instrument": "Repeat Instrument",
                            "redcap_repeat_instance": "Repeat Instance"}.get(name, name))
        return out

    # --- reading ---------------------------------------------------------------------------

    def subject_queryset(self):
        """The subjects of the export: those the user may see (followup.selectors), filtered."""
        from followup.selectors import subjects_for

        qs = subjects_for(self.project.user)
        if self.sel.records is not None:
            qs = qs.filter(number__in=self.sel.records)
        if self._date_range:
            qs = qs.filter(self._changed_in_range())
        return qs

    @property
    def _date_range(self) -> bool:
        return bool(self.sel.date_begin or self.sel.date_end)

    @property
    def subjects_filtered(self) -> bool:
        """Does the selection narrow the user's subjects (records, a date range)?"""
        return self.sel.records is not None or self._date_range

    def _subjects(self) -> Iterator[SubjectRow]:
        qs = self.subject_queryset().order_by(Collate("number", "C")).values_list("pk", "number", "site_id", "site__code", "status")
        for row in qs.iterator(chunk_size=BATCH):
            yield SubjectRow(*row)

    def _range_q(self, field: str) -> Q:
        q = Q()
        if self.sel.date_begin:
            q &= Q(**{f"{field}__gte": self.sel.date_begin})
        if self.sel.date_end:
            q &= Q(**{f"{field}__lte": self.sel.date_end})
        return q

    def _changed_in_range(self) -> Q:
        """Subjects created or changed in the range (REDCap's dateRangeBegin/End): the subject
        row itself, or any row of a form the user may read."""
        q = self._range_q("created_at") | self._range_q("status_changed_at")
        for inst in self.project.instruments:
            if inst.crf is None:
                continue
            names = {f.name for f in inst.crf.model._meta.concrete_fields}
            stamp = "updated_at" if "updated_at" in names else "created_at" if "created_at" in names else None
            if stamp is None:
                continue
            ref = subject_ref(inst.crf)
            qs = inst.crf.model._default_manager.filter(**{f"{site_filter_path_of(inst.crf)}__in": inst.site_ids})
            q |= Q(pk__in=qs.filter(self._range_q(stamp)).order_by().values_list(ref.id_expr()))
        return q

    def _fetch(self, inst: Instrument, batch: list[SubjectRow]) -> dict[int, list[tuple]]:
        ids = [s.pk for s in batch]
        out: dict[int, list[tuple]] = {}
        if inst.kind == "subject":
            for s in batch:
                out[s.pk] = [(s.number, s.site_code, s.status)]
            return out
        if inst.kind == "randomization":
            from randomization.models import Allocation
            from randomization.selectors import arms_for_subjects

            visible_sites = set(inst.site_ids)
            arms = arms_for_subjects(user=self.project.user,
                                     subjects=[s for s in batch if s.site_id in visible_sites])
            if not arms:
                return out
            rows = Allocation.objects.filter(subject_id__in=list(arms)).order_by().values_list(
                "subject_id", "stratum", RedcapDateTime(F("randomized_at")))
            for sid, stratum, at in rows:
                out[sid] = [(arms[sid], stratum, at)]
            return out
        if inst.kind == "adjudication":
            from api.redcap import adjudication

            rows = adjudication.queryset(inst).filter(pk__in=ids).values_list(
                "sid", *[f"c{n}" for n in range(len(inst.fields))])
            for sid, *values in rows:
                out[sid] = [tuple(values)]
            return out
        crf = inst.crf
        ref = subject_ref(crf)
        qs = crf.model._default_manager.filter(**{f"{site_filter_path_of(crf)}__in": inst.site_ids})
        qs = ref.for_subjects(qs, ids).order_by("pk")
        exprs = [raw_expression(f.source) for f in inst.fields]
        site_of = {s.pk: s.site_id for s in batch}
        blind = set(inst.arm_blind_site_ids)
        for sid, *values in qs.values_list(ref.id_expr(), *exprs):
            if blind and site_of.get(sid) in blind:
                values = [None if f.source and f.source.name in crf.arm_fields else v
                          for f, v in zip(inst.fields, values, strict=True)]
            out.setdefault(sid, []).append(tuple(values))
        return out

    # --- rows ------------------------------------------------------------------------------

    def rows(self) -> Iterator[list]:
        """Flat rows (lists in header order; None = blank), REDCap's order: record, event,
        repeat instance."""
        width = len(self.header)
        by_event = {e.code: ([], []) for e in self.events}
        for inst in self.instruments:
            if inst.event in by_event:
                by_event[inst.event][1 if inst.repeating else 0].append(self.slots[inst.name])
        event_name = {e.code: (e.label if self.sel.event_label else e.unique_name) for e in self.events}
        batch: list[SubjectRow] = []
        for subject in self._subjects():
            batch.append(subject)
            if len(batch) >= BATCH:
                yield from self._batch_rows(batch, by_event, event_name, width)
                batch = []
        if batch:
            yield from self._batch_rows(batch, by_event, event_name, width)

    def _batch_rows(self, batch, by_event, event_name, width) -> Iterator[list]:
        data = {inst.name: self._fetch(inst, batch) for inst in self.instruments}
        blank = [None] * width
        for s in batch:
            self.records_returned += 1
            for e in self.events:
                single, repeating = by_event[e.code]
                row = None
                for slot in single:
                    found = data[slot.instrument.name].get(s.pk)
                    if not found:
                        continue
                    if row is None:
                        row = list(blank)
                    _fill(row, slot, found[0], s.site_id)
                if row is not None:
                    row[0], row[1], row[2], row[3] = s.number, event_name[e.code], None, None
                    yield row
                for slot in repeating:
                    for n, values in enumerate(data[slot.instrument.name].get(s.pk, ()), start=1):
                        row = list(blank)
                        _fill(row, slot, values, s.site_id)
                        row[0], row[1], row[2], row[3] = s.number, event_name[e.code], slot.instrument.name, n
                        yield row


def _fill(row: list, slot: Slot, values: tuple, site_id: int) -> None:
    checked: dict[int, set] = {}
    for pos, idx, labels, box in zip(slot.positions, slot.indexes, slot.labels, slot.boxes, strict=True):
        v = values[idx]
        if box is not None:
            if v is None:
                row[pos] = None
                continue
            if idx not in checked:
                checked[idx] = _codes(v)
            row[pos] = box[1] if box[0] in checked[idx] else box[2]
            continue
        if labels is not None and v is not None:
            v = labels.get(str(v), v)
        row[pos] = v
    if slot.complete_position is not None:
        row[slot.complete_position] = 2


def _codes(value) -> set[str]:
    """The codes of a stored multi-choice list (JSON text of a list, as PostgreSQL gives it)."""
    import json

    items = json.loads(value) if isinstance(value, str) else value
    return {str(v) for v in items} if isinstance(items, list) else set()


def parse_datetime(text: str, name: str, error: Callable[[str], Exception]) -> dt.datetime:
    text = (text or "").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise error(f"The value of the parameter \"{name}\" is not a valid date/time (expected "
                f"YYYY-MM-DD HH:MM:SS, UTC); found {text!r}.")
