"""CDISC ODM 1.3.2 (FileType Transactional): study metadata, administrative data and clinical
data with the complete audit trail. Valid against the official schema (../shared/odm-1.3.2/,
vendored in exports/odm_schema/).

Layout:
- Study: GlobalVariables; BasicDefinitions (a MeasurementUnit per unit found in the forms);
  MetaDataVersion with Protocol, one StudyEventDef per visit (V0…V5, plus "EVENTS" for forms
  that belong to no visit, repeating), a FormDef and an ItemGroupDef per CRF, an ItemDef per
  field (Question = label, MeasurementUnitRef, RangeCheck, CodeListRef) and the CodeLists.
- AdminData: the users named in audit records and one Location per site.
- ClinicalData: one SubjectData per randomized subject (SiteRef, StudyEventData → FormData →
  ItemGroupData → ItemData), then one per screened patient who was never randomized (keyed by
  the screening number, screening form only). Every version of every item is an ItemData
  (TransactionType Insert, then Update — IsNull="Yes" when a value was cleared) with its
  AuditRecord (user, site, instant, reason for change) and, for an update, the old value as
  an Annotation: the whole pghistory trail, not only the last change.
- Unblinded exports only: the randomization (arm, stratum, method, instant, who, the list
  entry used) as its own form and item group (F.RANDOMIZATION / IG.RANDOMIZATION) at V0.
- Metadata from the data dictionary: SASDatasetName/SASFieldName (pinned, unique),
  declared units, both range limits, code lists with a real code for every "none".

Written with lxml's incremental writer (etree.xmlfile) subject batch by subject batch, so
memory holds one batch of rows whatever the number of subjects.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db.models import F, Q
from lxml import etree

from core.models import Site, User
from exports import metadata
from exports.columns import Column, Table, subject_ref
from exports.dataset import Scope, crf_queryset, value_expression
from exports.formats.csv_format import csv_value

NS = "http://www.cdisc.org/ns/odm/v1.3"
NSMAP = {None: NS}
STUDY_OID = "ST.ANGEL-RESCUE"
MDV_OID = "MDV.1"
SYSTEM_USER = "USR.SYSTEM"
BATCH = 500
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "odm_schema"
EVENT_BATCH = 20000

VISIT_NAMES = {
    "V0": "Baseline", "V1": "Procedure", "V2": "24 hours", "V3": "48 hours",
    "V4": "Day 7 / discharge", "V5": "Day 90", "EVENTS": "Events",
}
ODM_TYPES = {"integer": "integer", "float": "float", "decimal": "float", "boolean": "boolean",
             "date": "date", "datetime": "datetime", "time": "time", "json": "text",
             "text": "text"}


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _oid(*parts: str) -> str:
    return ".".join(re.sub(r"[^A-Za-z0-9_\-]", "_", str(p)) for p in parts)


def _event(table: Table) -> str:
    return table.visit or "EVENTS"


def _item_oid(table: Table, c: Column) -> str:
    return _oid("I", table.code, c.name.upper())


def _codelist_oid(table: Table, c: Column) -> str:
    return _oid("CL", table.code, c.name.upper())


def _unit_oid(unit: str) -> str:
    return "MU." + re.sub(r"[^A-Za-z0-9]", "_", unit)


def leaf(xf, tag: str, text: str | None = None, **attrs) -> None:
    """An element without children, written in the document's default namespace."""
    with xf.element(q(tag), attrs):
        if text is not None:
            xf.write(text)


def _text(xf, tag: str, text: str):
    # xml:lang is optional; lxml's incremental writer cannot emit the reserved xml: prefix
    # on a leaf without declaring it, which XML forbids, so texts carry no language tag.
    with xf.element(q(tag)):
        leaf(xf, "TranslatedText", text)


def _item_columns(table: Table) -> list[Column]:
    # Key columns are the structure of ClinicalData (SubjectKey, SiteRef, event), not items.
    return [c for c in table.columns if not c.key]


def validate(path: Path) -> None:
    """Raise lxml.etree.DocumentInvalid unless `path` is valid ODM 1.3.2."""
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "ODM1-3-2.xsd")))
    schema.assertValid(etree.parse(str(path)))


class OdmWriter:
    def __init__(self, tables: list[Table], scope: Scope, *, file_oid: str, progress=None):
        self.tables = tables
        self.scope = scope
        self.file_oid = file_oid
        self.progress = progress or (lambda fraction, step: None)
        self.row_counts: dict[str, int] = defaultdict(int)
        # OIDs computed once per table, not once per value (a third of the run time at 10k).
        self.item_oids = {t.code: [_item_oid(t, c) for c in _item_columns(t)] for t in tables}
        self.form_oids = {t.code: _oid("F", t.code) for t in tables}
        self.group_oids = {t.code: _oid("IG", t.code) for t in tables}
        self.sas_names = {t.code: metadata.short_names(t.code, _item_columns(t)) for t in tables}

    # --- metadata ----------------------------------------------------------------------
    def _study(self, xf):
        with xf.element(q("Study"), OID=STUDY_OID):
            with xf.element(q("GlobalVariables")):
                for tag, text in (("StudyName", "ANGEL-RESCUE"),
                                  ("StudyDescription", "Rescue treatment of large-vessel occlusion "
                                   "after failed thrombectomy passes (NCT07026344)"),
                                  ("ProtocolName", "NCT07026344")):
                    leaf(xf, tag, text)
            units = sorted({c.unit for t in self.tables for c in _item_columns(t) if c.unit})
            if units:
                with xf.element(q("BasicDefinitions")):
                    for unit in units:
                        with xf.element(q("MeasurementUnit"), OID=_unit_oid(unit), Name=unit):
                            _text(xf, "Symbol", unit)
            with xf.element(q("MetaDataVersion"), OID=MDV_OID, Name="ANGEL-RESCUE EDC forms",
                            Description=metadata.TIME_CONVENTION):
                self._metadata(xf)

    def _events(self) -> dict[str, list[Table]]:
        events: dict[str, list[Table]] = {}
        for t in self.tables:
            events.setdefault(_event(t), []).append(t)
        return dict(sorted(events.items(), key=lambda kv: (kv[0] == "EVENTS", kv[0])))

    def _metadata(self, xf):
        events = self._events()
        with xf.element(q("Protocol")):
            for i, code in enumerate(events, start=1):
                leaf(xf, "StudyEventRef", None, StudyEventOID=_oid("SE", code),
                                       OrderNumber=str(i), Mandatory="No")
        for code, tables in events.items():
            repeating = "Yes" if code == "EVENTS" else "No"
            kind = "Unscheduled" if code == "EVENTS" else "Scheduled"
            with xf.element(q("StudyEventDef"), OID=_oid("SE", code), Name=VISIT_NAMES.get(code, code),
                            Repeating=repeating, Type=kind):
                for i, t in enumerate(tables, start=1):
                    leaf(xf, "FormRef", None, FormOID=_oid("F", t.code),
                                           OrderNumber=str(i), Mandatory="No")
        for t in self.tables:
            repeating = "Yes" if t.crf.repeating else "No"
            with xf.element(q("FormDef"), OID=_oid("F", t.code), Name=t.label, Repeating=repeating):
                leaf(xf, "ItemGroupRef", None, ItemGroupOID=_oid("IG", t.code),
                                       Mandatory="Yes")
        for t in self.tables:
            with xf.element(q("ItemGroupDef"), OID=_oid("IG", t.code), Name=t.label, Repeating="No",
                            SASDatasetName=metadata.dataset_name(t.code)):
                for i, c in enumerate(_item_columns(t), start=1):
                    leaf(xf, "ItemRef", None, ItemOID=_item_oid(t, c), OrderNumber=str(i),
                                           Mandatory="No")
        for t in self.tables:
            for c in _item_columns(t):
                self._item_def(xf, t, c)
        for t in self.tables:
            for c in _item_columns(t):
                if c.choices:
                    int_codes = all(isinstance(k, int) for k, _ in c.choices)
                    with xf.element(q("CodeList"), OID=_codelist_oid(t, c), Name=f"{t.code} {c.name}",
                                    DataType="integer" if int_codes else "text"):
                        for code, label in c.choices:
                            with xf.element(q("CodeListItem"), CodedValue=str(code)):
                                _text(xf, "Decode", str(label))

    def _item_def(self, xf, t: Table, c: Column):
        attrs = {"OID": _item_oid(t, c), "Name": c.name, "DataType": ODM_TYPES[c.kind],
                 "SASFieldName": self.sas_names[t.code][c.name][0]}
        if c.help:
            attrs["Comment"] = c.help
        with xf.element(q("ItemDef"), **attrs):
            _text(xf, "Question", c.label)
            if c.unit:
                leaf(xf, "MeasurementUnitRef", None, MeasurementUnitOID=_unit_oid(c.unit))
            for comparator, limit in (("GE", c.minimum), ("LE", c.maximum)):
                if limit is not None and c.kind in ("integer", "float", "decimal"):
                    with xf.element(q("RangeCheck"), Comparator=comparator, SoftHard="Hard"):
                        leaf(xf, "CheckValue", str(limit))
            if c.choices:
                leaf(xf, "CodeListRef", None, CodeListOID=_codelist_oid(t, c))

    def _admin(self, xf, users):
        with xf.element(q("AdminData"), StudyOID=STUDY_OID):
            with xf.element(q("User"), OID=SYSTEM_USER):
                leaf(xf, "LoginName", "system")
            for pk, username, first, last in users:
                with xf.element(q("User"), OID=f"USR.{pk}"):
                    for tag, text in (("LoginName", username), ("FirstName", first),
                                      ("LastName", last)):
                        if text:
                            leaf(xf, tag, text)
            for site in Site.objects.filter(pk__in=self.scope.site_ids).order_by("code"):
                with xf.element(q("Location"), OID=f"LOC.{site.code}", Name=f"{site.code} {site.name}",
                                LocationType="Site"):
                    leaf(xf, "MetaDataVersionRef", None, StudyOID=STUDY_OID,
                                           MetaDataVersionOID=MDV_OID,
                                           EffectiveDate=dt.date.today().isoformat())

    # --- clinical data -------------------------------------------------------------------
    def _history(self, table: Table, ids: list[int]) -> dict[int, list[tuple]]:
        """Every version of each row, oldest first: (instant, user id, reason, values)."""
        cols = _item_columns(table)
        audit_fields = table.crf.extra.get("audit")
        if audit_fields:
            # A row written once and never changed (the allocation): its own who and when.
            user_field, at_field, reason = audit_fields
            rows = (table.crf.model._default_manager.filter(pk__in=ids)
                    .values_list("pk", user_field, at_field))
            return {pk: [(at, user, reason, None)] for pk, user, at in rows}
        event_model = getattr(table.crf.model, "pgh_event_model", None)
        if event_model is None or not ids:
            return {}
        exprs = [value_expression(c) for c in cols]
        out: dict[int, list[tuple]] = defaultdict(list)
        qs = (event_model.objects.filter(pgh_obj_id__in=ids).order_by("pgh_obj_id", "pgh_id")
              .values_list("pgh_obj_id", "pgh_created_at", "pgh_context__metadata", *exprs))
        for obj_id, at, meta, *values in qs.iterator(chunk_size=EVENT_BATCH):
            meta = meta or {}
            out[obj_id].append((at, meta.get("user"), meta.get("reason") or "", values))
        return out

    def _rows_for(self, table: Table, qs, key) -> dict[object, list[tuple]]:
        cols = _item_columns(table)
        exprs = [value_expression(c) for c in cols]
        grouped: dict[object, list[tuple]] = defaultdict(list)
        rows = list(qs.annotate(_odm_key=key).order_by("pk").values_list("_odm_key", "pk", *exprs))
        history = self._history(table, [r[1] for r in rows])
        for key, pk, *values in rows:
            grouped[key].append((pk, values, history.get(pk, [])))
        return grouped

    @staticmethod
    def _text(c: Column, value) -> str:
        if c.kind == "boolean":
            return "true" if value else "false"
        if c.kind == "datetime":
            return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return csv_value(value)

    def _audit(self, parent, at, user_id, reason, site_code, known_users):
        sub = etree.SubElement
        record = sub(parent, q("AuditRecord"))
        sub(record, q("UserRef"), UserOID=f"USR.{user_id}" if user_id in known_users
            else SYSTEM_USER)
        sub(record, q("LocationRef"), LocationOID=f"LOC.{site_code}")
        sub(record, q("DateTimeStamp")).text = \
            at.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        sub(record, q("ReasonForChange")).text = reason

    def _form(self, xf, table: Table, entries, site_code: str, known_users: set[int]):
        """FormData elements built as small lxml trees (C speed) and written whole: one
        form's values (and their history) in memory at a time."""
        cols = _item_columns(table)
        item_oids = self.item_oids[table.code]
        sub = etree.SubElement
        for pk, values, history in entries:
            attrs = {"FormOID": self.form_oids[table.code]}
            if table.crf.repeating:
                attrs["FormRepeatKey"] = str(pk)
            form = etree.Element(q("FormData"), attrs, nsmap=NSMAP)
            group = sub(form, q("ItemGroupData"), ItemGroupOID=self.group_oids[table.code])
            for i, (c, oid, value) in enumerate(zip(cols, item_oids, values, strict=True)):
                previous = None
                for at, user_id, reason, old_values in history:
                    v = value if old_values is None else old_values[i]
                    empty = v is None or v == ""
                    if (previous is None and empty) or (previous is not None and v == previous[0]):
                        continue
                    item = sub(group, q("ItemData"), ItemOID=oid,
                               TransactionType="Insert" if previous is None else "Update")
                    if empty:
                        item.set("IsNull", "Yes")
                    else:
                        item.set("Value", self._text(c, v))
                    self._audit(item, at, user_id, reason or (
                        "initial entry" if previous is None else "no reason recorded"),
                        site_code, known_users)
                    if previous is not None and not (previous[0] is None or previous[0] == ""):
                        note = sub(item, q("Annotation"), SeqNum="1")
                        sub(note, q("Comment")).text = f"Previous value: {self._text(c, previous[0])}"
                    previous = (v,)
                current_empty = value is None or value == ""
                if (previous is None and not current_empty) or (
                        previous is not None and previous[0] != value):
                    # No (or an incomplete) trail for this value: the value as it stands.
                    item = sub(group, q("ItemData"), ItemOID=oid,
                               TransactionType="Insert" if previous is None else "Update")
                    if current_empty:
                        item.set("IsNull", "Yes")
                    else:
                        item.set("Value", self._text(c, value))
            xf.write(form)
            self.row_counts[table.code] += 1

    def _subject(self, xf, key: str, site_code: str, forms_by_event, known_users):
        with xf.element(q("SubjectData"), SubjectKey=key):
            leaf(xf, "SiteRef", None, LocationOID=f"LOC.{site_code}")
            for event, forms in forms_by_event.items():
                repeat_key = {"StudyEventRepeatKey": "1"} if event == "EVENTS" else {}
                with xf.element(q("StudyEventData"), StudyEventOID=_oid("SE", event), **repeat_key):
                    for table, entries in forms:
                        self._form(xf, table, entries, site_code, known_users)

    def _clinical(self, xf, known_users: set[int]):
        from core.models import Subject

        events = self._events()
        subject_tables = [(t, subject_ref(t.crf)) for t in self.tables]
        subject_tables = [(t, ref) for t, ref in subject_tables if ref]
        subjects = Subject.objects.filter(site_id__in=self.scope.site_ids).order_by("number")
        total = subjects.count() or 1
        done = 0
        with xf.element(q("ClinicalData"), StudyOID=STUDY_OID, MetaDataVersionOID=MDV_OID):
            last = ""
            while True:
                batch = list(subjects.filter(number__gt=last)
                             .values_list("id", "number", "site__code")[:BATCH])
                if not batch:
                    break
                ids = [b[0] for b in batch]
                per_table = {t.code: self._rows_for(
                    t, ref.for_subjects(crf_queryset(t.crf, self.scope), ids), ref.id_expr())
                    for t, ref in subject_tables}
                for sid, number, site_code in batch:
                    forms_by_event = {}
                    for event, tables in events.items():
                        forms = [(t, per_table[t.code][sid]) for t in tables
                                 if t.code in per_table and per_table[t.code].get(sid)]
                        if forms:
                            forms_by_event[event] = forms
                    self._subject(xf, number, site_code, forms_by_event, known_users)
                xf.flush()
                done += len(batch)
                last = batch[-1][1]
                self.progress(done / total, f"ODM: {done} of {total} subjects")
            self._unrandomized(xf, known_users)

    def _unrandomized(self, xf, known_users):
        """Screened patients who never became subjects: the screening form alone."""
        for t in self.tables:
            if t.crf.subject_field or "number" not in {f.name for f in t.crf.model._meta.fields}:
                continue
            qs = crf_queryset(t.crf, self.scope)
            ref = subject_ref(t.crf)
            if ref:
                qs = ref.unlinked(qs)
            last_pk = 0
            while True:
                keyed = list(qs.filter(pk__gt=last_pk).order_by("pk")
                             .values_list("pk", "number", "site__code")[:BATCH])
                if not keyed:
                    break
                grouped = self._rows_for(t, qs.filter(pk__in=[k[0] for k in keyed]), F("pk"))
                for pk, number, site_code in keyed:
                    self._subject(xf, number, site_code,
                                  {_event(t): [(t, grouped[pk])]}, known_users)
                xf.flush()
                last_pk = keyed[-1][0]

    def write(self, path: Path) -> dict[str, int]:
        # Staff of the exported sites and all-site staff only: a site-scoped export does not
        # list the people of other sites (their changes, if any, appear as the system user).
        staff = User.objects.filter(Q(memberships__site_id__in=self.scope.site_ids)
                                    | Q(memberships__site__isnull=True)).distinct()
        users = list(staff.order_by("pk").values_list("pk", "username", "first_name", "last_name"))
        known = {u[0] for u in users}
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        with etree.xmlfile(str(path), encoding="utf-8") as xf:
            xf.write_declaration()
            with xf.element(q("ODM"), nsmap={None: NS}, FileType="Transactional", Granularity="All",
                            FileOID=self.file_oid, CreationDateTime=now, ODMVersion="1.3.2",
                            Originator="ANGEL-RESCUE EDC", SourceSystem="ANGEL-RESCUE EDC",
                            SourceSystemVersion=getattr(settings, "EDC_VERSION", "0.1.0")):
                self._study(xf)
                self._admin(xf, users)
                self._clinical(xf, known)
        return dict(self.row_counts)


def write_odm(tables: list[Table], scope: Scope, path: Path, *, file_oid: str,
              progress=None) -> dict[str, int]:
    return OdmWriter(tables, scope, file_oid=file_oid, progress=progress).write(path)
