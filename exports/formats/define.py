"""CDISC Define-XML 2.1: the metadata of every dataset and variable of an export.

One ItemGroupDef per table (the CRF tables, the randomization when unblinded, the analysis
table) and one ItemDef per variable, all read from the data dictionary: name, SAS name
(SASDatasetName, SASFieldName — the pinned names of the XPT files), the full label, data
type, length, display format, unit and range (in the description), code lists (with the
declared code of every "none"), origin (collected or derived), and the time convention.
The datasets are not SDTM domains: each is marked def:IsNonStandard="Yes" against the
SDTMIG reference. The def:leaf of each dataset points at its Dataset-JSON file.

Every Description (dataset, variable) and every Decode of a code list carries the English
text (xml:lang="en", the reference) and the Simplified Chinese one beside it
(xml:lang="zh-Hans", issue 15), both from the one catalogue (exports.i18n).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext_noop
from lxml import etree

from exports import metadata
from exports.columns import Column
from exports.formats.datasetjson import group_oid, item_oid
from exports.formats.stat_coding import is_numeric
from exports.i18n import label_in

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}

DATA_TYPES = {"text": "text", "json": "text", "integer": "integer", "boolean": "integer",
              "float": "float", "decimal": "float", "date": "date", "datetime": "datetime",
              "time": "time"}
DERIVED_HINTS = ("Derived", "derived")
CLASSES = {"ANALYSIS": "SUBJECT LEVEL ANALYSIS DATASET", "RANDOMIZATION": "SPECIAL PURPOSE",
           "AE": "EVENTS", "DEATH": "EVENTS", "DEVIATION": "EVENTS", "EXIT": "EVENTS"}


def _o(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


ZH = "zh-hans"
ZH_XML = "zh-Hans"  # the BCP 47 tag of Simplified Chinese (xml:lang)
UNIT_TEXT = gettext_noop("Unit: {unit}.")
RANGE_TEXT = gettext_noop("Range: {low}–{high}.")
TIME_TEXTS = {"datetime": gettext_noop("UTC instant, ISO 8601 with whole seconds (…Z)."),
              "date": gettext_noop("The site's local calendar date (time zone: site_tz).")}


def _translated(parent, tag: str, english: str, chinese: str) -> None:
    """<tag> with the English TranslatedText and the Chinese one beside it."""
    element = etree.SubElement(parent, _o(tag))
    for lang, text in (("en", english), (ZH_XML, chinese)):
        tt = etree.SubElement(element, _o("TranslatedText"))
        tt.set(f"{{{XML_NS}}}lang", lang)
        tt.text = text


def _description(parent, english: str, chinese: str) -> None:
    _translated(parent, "Description", english, chinese)


def _codelist_oid(table: str, c: Column) -> str:
    return f"CL.{table}.{c.name.upper()}"


def _codes(c: Column) -> list[tuple[str, str]]:
    if c.kind == "boolean":
        return [("0", "No"), ("1", "Yes")]
    return [(str(code), str(label)) for code, label in c.choices]


def _item_description(c: Column, language: str = "en") -> str:
    """Label, unit, range and time convention of a variable, in English or (language
    zh-hans, `c` then being the column built in Chinese) in Chinese."""
    def t(text: str) -> str:
        return text if language == "en" else label_in(text, language)

    parts = [t(c.label)]
    if c.unit:
        parts.append(t(UNIT_TEXT).format(unit=t(c.unit)))
    if c.minimum is not None or c.maximum is not None:
        lo = "" if c.minimum is None else c.minimum
        hi = "" if c.maximum is None else c.maximum
        parts.append(t(RANGE_TEXT).format(low=lo, high=hi))
    if c.kind in TIME_TEXTS:
        parts.append(t(TIME_TEXTS[c.kind]))
    return " ".join(parts)


def write_define(groups: list[tuple[str, str, list[Column], bool]], path: Path, *,
                 file_oid: str, blinded: bool,
                 chinese: dict[tuple[str, str], Column] | None = None) -> int:
    """groups: (table code, English label, columns built in English, repeating); chinese:
    (table code, variable) → the same column built in Chinese (exports.dictionary). Returns
    the number of ItemDefs."""
    chinese = chinese or {}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    root = etree.Element(_o("ODM"), nsmap=NSMAP, FileType="Snapshot", FileOID=f"{file_oid}.DEFINE",
                         ODMVersion="1.3.2", CreationDateTime=now, Originator="ANGEL-RESCUE EDC",
                         SourceSystem="ANGEL-RESCUE EDC",
                         SourceSystemVersion=str(getattr(settings, "EDC_VERSION", "0.1.0")))
    root.set(_d("Context"), "Other")
    study = etree.SubElement(root, _o("Study"), OID="ST.ANGEL-RESCUE")
    gv = etree.SubElement(study, _o("GlobalVariables"))
    for tag, text in (("StudyName", "ANGEL-RESCUE"),
                      ("StudyDescription", "Rescue treatment of large-vessel occlusion after failed "
                                           "thrombectomy passes (NCT07026344)"),
                      ("ProtocolName", "NCT07026344")):
        etree.SubElement(gv, _o(tag)).text = text
    mdv = etree.SubElement(study, _o("MetaDataVersion"), OID="MDV.1",
                           Name="ANGEL-RESCUE EDC export" + (" (blinded)" if blinded else " (unblinded)"),
                           Description=metadata.TIME_CONVENTION)
    mdv.set(_d("DefineVersion"), "2.1.0")
    standards = etree.SubElement(mdv, _d("Standards"))
    etree.SubElement(standards, _d("Standard"), OID="STD.SDTMIG", Name="SDTMIG", Type="IG",
                     Version="3.4", Status="Final")
    items: list[tuple[str, Column, str]] = []
    for code, label, columns, repeating in groups:
        names = metadata.short_names(code, columns)
        attrs = {"OID": group_oid(code), "Name": metadata.dataset_name(code),
                 "SASDatasetName": metadata.dataset_name(code),
                 "Repeating": "Yes" if repeating else "No", "IsReferenceData": "No",
                 "Purpose": "Tabulation"}
        ig = etree.SubElement(mdv, _o("ItemGroupDef"), attrs)
        ig.set(_d("Structure"), "One record per subject" if code == "ANALYSIS"
               else "One record per form entry")
        ig.set(_d("ArchiveLocationID"), f"LF.{code}")
        ig.set(_d("IsNonStandard"), "Yes")
        _description(ig, label, label_in(label, ZH))
        for i, c in enumerate(columns, start=1):
            ref = {"ItemOID": item_oid(code, c.name), "OrderNumber": str(i),
                   "Mandatory": "Yes" if c.key else "No"}
            if c.key and c.name in ("subject_number", "record_id"):
                ref["KeySequence"] = "1" if c.name == "subject_number" else "2"
            etree.SubElement(ig, _o("ItemRef"), ref)
            items.append((code, c, names[c.name][0]))
        etree.SubElement(ig, _d("Class"), Name=CLASSES.get(code, "FINDINGS"))
        leaf = etree.SubElement(ig, _d("leaf"), ID=f"LF.{code}")
        leaf.set(f"{{{XLINK_NS}}}href", f"../datasetjson/{code.lower()}.json")
        etree.SubElement(leaf, _d("title")).text = f"{code.lower()}.json"
    for code, c, sas in items:
        attrs = {"OID": item_oid(code, c.name), "Name": c.name, "DataType": DATA_TYPES[c.kind],
                 "SASFieldName": sas}
        if c.kind in ("text", "json"):
            attrs["Length"] = str(metadata.text_bytes(c))
        elif is_numeric(c) and c.kind in ("integer", "boolean"):
            attrs["Length"] = "8"
        item = etree.SubElement(mdv, _o("ItemDef"), attrs)
        if c.kind == "datetime":
            item.set(_d("DisplayFormat"), "E8601DT19.")
        elif c.kind == "date":
            item.set(_d("DisplayFormat"), "E8601DA10.")
        _description(item, _item_description(c), _item_description(chinese.get((code, c.name), c), ZH))
        if c.choices or c.kind == "boolean":
            etree.SubElement(item, _o("CodeListRef"), CodeListOID=_codelist_oid(code, c))
        derived = c.help.startswith(DERIVED_HINTS) or code == "ANALYSIS"
        origin = etree.SubElement(item, _d("Origin"), Type="Derived" if derived else "Collected")
        if not derived:
            origin.set("Source", "Investigator")
    for code, c, _sas in items:
        if not (c.choices or c.kind == "boolean"):
            continue
        int_codes = c.kind == "boolean" or all(
            isinstance(k, int) and not isinstance(k, bool) for k, _ in c.choices)
        cl = etree.SubElement(mdv, _o("CodeList"), OID=_codelist_oid(code, c),
                              Name=f"{code} {c.name}", DataType="integer" if int_codes else "text")
        zh_decodes = dict(_codes(chinese.get((code, c.name), c)))
        for coded, decode in _codes(c):
            cli = etree.SubElement(cl, _o("CodeListItem"), CodedValue=coded)
            _translated(cli, "Decode", decode, label_in(zh_decodes.get(coded, decode), ZH))
    etree.ElementTree(root).write(str(path), encoding="utf-8", xml_declaration=True,
                                  pretty_print=True)
    return len(items)
