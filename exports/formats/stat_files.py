"""SAS transport V5 (.xpt), Stata 118 (.dta) and SPSS (.sav) files, one per table.

All three are written by our own streaming writers (exports.formats.xpt, .dta, .sav) from
fixed-width records that PostgreSQL lays out (exports.formats.records): the table is never
in memory, and Python does no work per value (numpy converts the numbers of a chunk at once).

- Types, widths and display formats come from the data dictionary, never from the data:
  every coded or numeric variable is a double; dates and instants are numbers in the
  package's own epoch with a date format (E8601DA10./E8601DT19., %td/%tc, DATE11/DATETIME20),
  so an empty date column stays a date column; every text is a character variable of its
  declared byte width (exports.metadata.text_bytes: the field's max_length × 3 bytes of
  UTF-8, or FREE_TEXT_BYTES for free text), whatever the values — text beyond that width is
  cut at a character boundary (complete in CSV, ODM and Dataset-JSON) and counted in the
  README of the folder.
- XPT: SAS names, label cuts, character widths and splits (200-byte pieces) from the data
  dictionary (exports.metadata). XPT cannot hold a format catalog, so each coded variable
  names its format and the formats come beside the data as `formats.sas` (PROC FORMAT) and
  `formats.xpt` (a V5 CNTLIN data set: `proc format cntlin=…`), as SAS submissions do.
  `README.txt` beside them lists the split character variables and any text cut.
- Stata: str# of the declared width (at most 2045 bytes), NUL-padded; value labels.
- SPSS: A<width> strings (very long strings above 255 bytes in segments); value labels.
"""

from __future__ import annotations

from pathlib import Path

from exports import metadata
from exports.columns import Column
from exports.formats import dta, records, sav
from exports.formats import xpt as xptlib
from exports.formats.stat_coding import is_numeric, stat_label, stat_labels

LABEL_LIMIT = {"xpt": 40, "dta": 80, "sav": 256}


class SasFormats:
    """Names the SAS format of each distinct value-label set and writes them out."""

    def __init__(self):
        self.by_labels: dict[tuple, str] = {}

    def name_for(self, c: Column) -> str | None:
        labels = stat_labels(c)
        if not labels:
            return None
        key = tuple(sorted(labels.items()))
        if key in self.by_labels:
            return self.by_labels[key]
        # Names of at most 8 characters (SAS V5 readers) that readstat parses: letters,
        # then an optional counter, then "F" (never ending in a digit).
        if c.kind == "boolean":
            base = "YESNO"
        else:
            base = "".join(ch for ch in c.name.upper() if ch.isalpha())[:5].ljust(3, "X")
        name, n = f"{base}F", 1
        while name in self.by_labels.values():
            n += 1
            name = f"{base[:5]}{n}F"
        self.by_labels[key] = name
        return name

    def write(self, directory: Path) -> list[Path]:
        sas = directory / "formats.sas"
        lines = ["/* Value labels of the ANGEL-RESCUE export: %include this file, then apply the",
                 "   formats named in each XPT variable (or load formats.xpt with",
                 "   proc format cntlin=...). */", "proc format;"]
        rows = []
        for labels, name in self.by_labels.items():
            lines.append(f"  value {name}")
            for code, label in labels:
                text = label.replace("'", "''")
                lines.append(f"    {code} = '{text}'")
                rows.append([name, float(code), float(code), label, "N"])
            lines.append("  ;")
        lines.append("run;")
        sas.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cntlin = directory / "formats.xpt"
        variables = [xptlib.XptVariable("FMTNAME", "Format name", False, 8),
                     xptlib.XptVariable("START", "Start", True),
                     xptlib.XptVariable("END", "End", True),
                     xptlib.XptVariable("LABEL", "Label", False, 200),
                     xptlib.XptVariable("TYPE", "Type", False, 1)]
        with open(cntlin, "wb") as fh:
            w = xptlib.XptWriter(fh, dataset="FORMATS", label="Value labels (CNTLIN)",
                                 variables=variables)
            w.write_header()
            w.write_rows([[r[0].encode(), r[1], r[2], xptlib.split_utf8(r[3].encode(), [200])[0][0],
                           r[4].encode()] for r in rows])
            w.close()
        return [sas, cntlin]


class XptLayout:
    """The V5 variables of one table (from the dictionary) and its record (exports.formats.
    records: PostgreSQL lays out every observation; Python cuts or splits long text)."""

    def __init__(self, table_code: str, columns: list[Column], sas_formats: SasFormats | None):
        self.columns = columns
        self.names = metadata.short_names(table_code, columns)
        self.variables: list[xptlib.XptVariable] = []
        self.split: dict[str, list[str]] = {}
        self.record = records.xpt_layout(columns)
        for c in columns:
            names = self.names[c.name]
            label = stat_label(c)
            if is_numeric(c) or c.kind in ("date", "datetime", "time"):
                fmt, flen = "", 0
                if c.kind == "date":
                    fmt, flen = "E8601DA", 10
                elif c.kind == "datetime":
                    fmt, flen = "E8601DT", 19
                elif c.kind == "time":
                    fmt, flen = "TIME", 8
                else:
                    named = sas_formats.name_for(c) if sas_formats is not None else None
                    if named:
                        fmt = named
                self.variables.append(xptlib.XptVariable(names[0], label, True, 8, fmt, flen))
                continue
            widths = xptlib.segment_widths(metadata.text_bytes(c))
            if len(widths) != len(names):
                raise ValueError(f"{table_code}.{c.name}: {len(widths)} pieces, {len(names)} names")
            for k, (name, w) in enumerate(zip(names, widths, strict=True)):
                part = label if k == 0 else f"{label} (part {k + 1})"
                self.variables.append(xptlib.XptVariable(name, part, False, w))
            if len(names) > 1:
                self.split[c.name] = names

    @property
    def cut(self) -> dict[str, int]:
        """Variable → number of values cut at the declared width."""
        return self.record.cut


Source = tuple[str, list] | None  # (SQL of the table's rows, its parameters); None: no rows


def write_xpt(table_code: str, columns: list[Column], source: Source, path: Path, *,
              table_label: str, sas_formats: SasFormats | None,
              layout: XptLayout | None = None) -> tuple[int, XptLayout]:
    layout = layout or XptLayout(table_code, columns, sas_formats)
    if layout.record.length != sum(v.length for v in layout.variables):
        raise ValueError(f"{table_code}: record of {layout.record.length} bytes, variables of "
                         f"{sum(v.length for v in layout.variables)}")
    with open(path, "wb") as fh:
        writer = xptlib.XptWriter(fh, dataset=metadata.dataset_name(table_code),
                                  label=table_label, variables=layout.variables)
        writer.write_header()
        for block in layout.record.chunks(*(source or (None, None))):
            writer.write_records(block.data, len(block))
        writer.close()
    return writer.rows, layout


DTA_FORMATS = {"date": "%td", "datetime": "%tcCCYY-NN-DD_HH:MM:SS"}
SAV_FORMATS = {"date": ("DATE", 11, 0), "datetime": ("DATETIME", 20, 0)}


def _is_number(c: Column) -> bool:
    return is_numeric(c) or c.kind in ("date", "datetime")


def dta_variables(columns: list[Column]) -> list[dta.DtaVariable]:
    out = []
    for c in columns:
        label = metadata.cut_label(stat_label(c), LABEL_LIMIT["dta"])
        if _is_number(c):
            out.append(dta.DtaVariable(c.name, label, 0, DTA_FORMATS.get(c.kind, "%10.0g"),
                                       stat_labels(c) or None))
        else:
            width = min(metadata.text_bytes(c), records.STATA_STR_MAX)
            out.append(dta.DtaVariable(c.name, label, width, f"%-{min(width, 244)}s"))
    return out


def sav_variables(columns: list[Column]) -> list[sav.SavVariable]:
    out = []
    for c in columns:
        label = metadata.cut_label(stat_label(c), LABEL_LIMIT["sav"])
        if _is_number(c):
            coded = stat_labels(c)
            fmt = SAV_FORMATS.get(c.kind) or (("F", 8, 0) if coded or c.kind == "integer"
                                              else ("F", 8, 2))
            out.append(sav.SavVariable(c.name, label, 0, fmt, "nominal" if coded else "scale",
                                       coded or None))
        else:
            width = metadata.text_bytes(c)
            out.append(sav.SavVariable(c.name, label, width, ("A", width, 0), "nominal"))
    return out


def write_stat(fmt: str, columns: list[Column], source: Source, path: Path, *,
               table_label: str, table_name: str, sas_formats: SasFormats | None = None,
               cut: dict[str, int] | None = None) -> int:
    """One table as .xpt, .dta or .sav, streamed from `source` (see write_xpt); `cut` gets
    the number of values cut at the declared width, per variable."""
    cut = {} if cut is None else cut
    if fmt == "xpt":
        n, layout = write_xpt(table_name, columns, source, path, table_label=table_label,
                              sas_formats=sas_formats)
        cut.update(layout.cut)
        return n
    if fmt == "dta":
        return _write_records(path, records.dta_layout(columns), source, cut, lambda fh: dta.DtaWriter(
            fh, label=metadata.cut_label(table_label, 80), variables=dta_variables(columns)))
    if fmt == "sav":
        return _write_records(path, records.sav_layout(columns), source, cut, lambda fh: sav.SavWriter(
            fh, label=table_label, variables=sav_variables(columns)))
    raise ValueError(f"Unknown statistical format {fmt!r}; expected xpt, dta or sav.")


def _write_records(path, record, source, cut, make_writer) -> int:
    """Stream the fixed-width records of one table through a DTA or SAV writer; returns rows."""
    with open(path, "wb") as fh:
        writer = make_writer(fh)
        writer.write_header()
        for block in record.chunks(*(source or (None, None))):
            writer.write(block.data, len(block))
        writer.close()
    cut.update(record.cut)
    return writer.rows
