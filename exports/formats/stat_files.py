"""SAS transport V5 (.xpt), Stata 15 (.dta) and SPSS (.sav) files, one per table.

- XPT: our streaming V5 writer (exports.formats.xpt), rows converted chunk by chunk; SAS
  names, label cuts, character widths and splits from the data dictionary (exports.metadata).
  XPT cannot hold a format catalog, so each coded variable names its format and the formats
  come beside the data as `formats.sas` (PROC FORMAT) and `formats.xpt` (a V5 CNTLIN data
  set: `proc format cntlin=…`), as SAS submissions do. `README.txt` beside them lists the
  split character variables and any text cut at its declared width.
- Stata/SPSS: written with pyreadstat from a DataFrame of one table (rows still read from
  the database in chunks). Types and display formats come from the dictionary, never from
  the data: dates and instants are numbers in the package's own epoch with a date format
  (%td / %tc, DATE11 / DATETIME20), so an empty date column stays a date column; SPSS
  character widths are the declared widths.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyreadstat

from exports import metadata
from exports.columns import Column
from exports.formats import xpt as xptlib
from exports.formats.stat_coding import encoder, is_numeric, stat_label, stat_labels

LABEL_LIMIT = {"xpt": 40, "dta": 80, "sav": 256}
STATA_EPOCH = dt.datetime(1960, 1, 1)
SPSS_EPOCH = dt.datetime(1582, 10, 14)


def _naive_utc(v):
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    return v.replace(microsecond=0)


def _date_number(fmt: str, kind: str):
    """Dates and instants as numbers of the package (Stata: days / milliseconds since 1960;
    SPSS: seconds since 1582-10-14), whole seconds, UTC."""
    def convert(v):
        if v is None:
            return math.nan
        if kind == "date":
            if isinstance(v, dt.datetime):
                v = v.date()
            d = dt.datetime.combine(v, dt.time())
            return (float((d - STATA_EPOCH).days) if fmt == "dta"
                    else (d - SPSS_EPOCH).total_seconds())
        v = _naive_utc(v)
        return ((v - STATA_EPOCH).total_seconds() * 1000.0 if fmt == "dta"
                else (v - SPSS_EPOCH).total_seconds())
    return convert


DATE_FORMATS = {("dta", "date"): "%td", ("dta", "datetime"): "%tcCCYY-NN-DD_HH:MM:SS",
                ("sav", "date"): "DATE11", ("sav", "datetime"): "DATETIME20"}


def frame(fmt: str, columns: list[Column], rows: Iterable[tuple]) -> pd.DataFrame:
    encoders = []
    for c in columns:
        if c.kind in ("date", "datetime"):
            encoders.append(_date_number(fmt, c.kind))
        else:
            encoders.append(encoder(c))
    data: list[list] = [[] for _ in columns]
    for row in rows:
        for i, value in enumerate(row):
            data[i].append(encoders[i](value))
    out = {}
    for c, values in zip(columns, data, strict=True):
        if is_numeric(c) or c.kind in ("date", "datetime"):
            out[c.name] = pd.Series(values, dtype="float64")
        else:
            if fmt == "sav" and values:
                # SPSS storage width = the longest value: pad one value to the declared width
                # (SPSS strings are blank-padded; readers strip the blanks).
                width = min(metadata.text_bytes(c), 32767)
                longest = max(range(len(values)), key=lambda k: len(values[k].encode()))
                raw = values[longest].encode()
                if len(raw) < width:
                    values[longest] = values[longest] + " " * (width - len(raw))
            out[c.name] = pd.Series(values, dtype="object")
    return pd.DataFrame(out, columns=[c.name for c in columns])


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
    """The V5 variables of one table and the conversion of its rows (from the dictionary)."""

    def __init__(self, table_code: str, columns: list[Column], sas_formats: SasFormats | None):
        self.columns = columns
        self.names = metadata.short_names(table_code, columns)
        self.variables: list[xptlib.XptVariable] = []
        self.converters = []
        self.cut: dict[str, int] = {}
        self.split: dict[str, list[str]] = {}
        for c in columns:
            names = self.names[c.name]
            label = stat_label(c)
            if is_numeric(c) or c.kind in ("date", "datetime", "time"):
                fmt, flen = "", 0
                if c.kind == "date":
                    fmt, flen, conv = "E8601DA", 10, xptlib.sas_date
                elif c.kind == "datetime":
                    fmt, flen, conv = "E8601DT", 19, xptlib.sas_datetime
                elif c.kind == "time":
                    fmt, flen, conv = "TIME", 8, xptlib.sas_time
                else:
                    conv = encoder(c)  # NaN for missing: written as the SAS missing value
                    named = sas_formats.name_for(c) if sas_formats is not None else None
                    if named:
                        fmt = named
                self.variables.append(xptlib.XptVariable(names[0], label, True, 8, fmt, flen))
                self.converters.append((False, conv, None))
                continue
            widths = xptlib.segment_widths(metadata.text_bytes(c))
            if len(widths) != len(names):
                raise ValueError(f"{table_code}.{c.name}: {len(widths)} pieces, {len(names)} names")
            for k, (name, w) in enumerate(zip(names, widths, strict=True)):
                part = label if k == 0 else f"{label} (part {k + 1})"
                self.variables.append(xptlib.XptVariable(name, part, False, w))
            if len(names) > 1:
                self.split[c.name] = names
            self.converters.append((True, encoder(c), widths))

    def convert(self, row) -> list:
        out = []
        for c, (is_text, conv, widths), value in zip(self.columns, self.converters, row, strict=True):
            if not is_text:
                out.append(conv(value))
                continue
            pieces, was_cut = xptlib.split_utf8(conv(value).encode("utf-8"), widths)
            if was_cut:
                self.cut[c.name] = self.cut.get(c.name, 0) + 1
            out.extend(pieces)
        return out


def write_xpt(table_code: str, columns: list[Column], rows: Iterable[tuple], path: Path, *,
              table_label: str, sas_formats: SasFormats | None) -> tuple[int, XptLayout]:
    layout = XptLayout(table_code, columns, sas_formats)
    with open(path, "wb") as fh:
        writer = xptlib.XptWriter(fh, dataset=metadata.dataset_name(table_code),
                                  label=table_label, variables=layout.variables)
        writer.write_header()
        chunk = []
        for row in rows:
            chunk.append(layout.convert(row))
            if len(chunk) >= xptlib.CHUNK:
                writer.write_rows(chunk)
                chunk = []
        writer.write_rows(chunk)
        writer.close()
    return writer.rows, layout


def write_stat(fmt: str, columns: list[Column], rows: Iterable[tuple], path: Path, *,
               table_label: str, table_name: str, sas_formats: SasFormats | None = None) -> int:
    if fmt == "xpt":
        n, _layout = write_xpt(table_name, columns, rows, path, table_label=table_label,
                               sas_formats=sas_formats)
        return n
    if fmt not in ("dta", "sav"):
        raise ValueError(f"Unknown statistical format {fmt!r}; expected xpt, dta or sav.")
    df = frame(fmt, columns, rows)
    limit = LABEL_LIMIT[fmt]
    labels = [metadata.cut_label(stat_label(c), limit) for c in columns]
    value_labels = {c.name: stat_labels(c) for c in columns if stat_labels(c)}
    formats = {c.name: DATE_FORMATS[(fmt, c.kind)] for c in columns
               if (fmt, c.kind) in DATE_FORMATS}
    if fmt == "dta":
        pyreadstat.write_dta(df, str(path), file_label=metadata.cut_label(table_label, 80),
                             column_labels=labels, variable_value_labels=value_labels,
                             variable_format=formats)
    else:
        for c in columns:
            if not is_numeric(c) and c.kind not in ("date", "datetime"):
                formats[c.name] = f"A{min(metadata.text_bytes(c), 32767)}"
        pyreadstat.write_sav(df, str(path), file_label=table_label, column_labels=labels,
                             variable_value_labels=value_labels, variable_format=formats)
    return len(df)
