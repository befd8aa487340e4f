"""SAS transport (XPT v8), Stata 15 (.dta) and SPSS (.sav), written with pyreadstat.

One file per table, with variable labels and value labels:
- Stata and SPSS carry value labels inside the file;
- XPT cannot hold a SAS format catalog, so each coded variable names its format
  (`variable_format`) and the formats come beside the data as `formats.sas` (PROC FORMAT)
  and `formats.xpt` (a CNTLIN data set: `proc format cntlin=…`), as SAS submissions do.

pyreadstat writes from a pandas DataFrame, so a statistical file holds one table (one form)
in memory while it is written — rows are still read from the database in chunks, and the
whole data set is never in memory at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyreadstat

from exports.columns import Column
from exports.formats.stat_coding import encoder, is_numeric, stat_label, stat_labels

LABEL_LIMIT = {"xpt": 40, "dta": 80, "sav": 256}


def frame(columns: list[Column], rows: Iterable[tuple]) -> pd.DataFrame:
    encoders = [encoder(c) for c in columns]
    data: list[list] = [[] for _ in columns]
    for row in rows:
        for i, value in enumerate(row):
            data[i].append(encoders[i](value))
    out = {}
    for c, values in zip(columns, data, strict=True):
        if is_numeric(c):
            out[c.name] = pd.Series(values, dtype="float64")
        elif c.kind == "datetime" or (c.kind == "date" and all(v is None for v in values)):
            # (an all-empty date column stays a date column, not a string one)
            out[c.name] = pd.to_datetime(pd.Series(values, dtype="object"))
        else:
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
                rows.append({"FMTNAME": name, "START": float(code), "END": float(code),
                             "LABEL": label, "TYPE": "N"})
            lines.append("  ;")
        lines.append("run;")
        sas.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cntlin = directory / "formats.xpt"
        df = pd.DataFrame(rows or [{"FMTNAME": "", "START": math.nan, "END": math.nan,
                                    "LABEL": "", "TYPE": "N"}])
        pyreadstat.write_xport(df, str(cntlin), table_name="FORMATS",
                               column_labels=["Format name", "Start", "End", "Label", "Type"])
        return [sas, cntlin]


def write_stat(fmt: str, columns: list[Column], rows: Iterable[tuple], path: Path, *,
               table_label: str, table_name: str, sas_formats: SasFormats | None = None) -> int:
    df = frame(columns, rows)
    limit = LABEL_LIMIT[fmt]
    labels = [stat_label(c)[:limit] for c in columns]
    value_labels = {c.name: stat_labels(c) for c in columns if stat_labels(c)}
    if fmt == "xpt":
        formats = {}
        if sas_formats is not None:
            for c in columns:
                name = sas_formats.name_for(c)
                if name:
                    formats[c.name] = f"{name}."
        for c in columns:
            if c.kind == "datetime":
                formats[c.name] = "E8601DT19."
            elif c.kind == "date":
                formats[c.name] = "E8601DA10."
        pyreadstat.write_xport(df, str(path), file_label=table_label[:40], column_labels=labels,
                               table_name=table_name[:8].upper(), variable_format=formats)
    elif fmt == "dta":
        pyreadstat.write_dta(df, str(path), file_label=table_label[:80], column_labels=labels,
                             variable_value_labels=value_labels)
    elif fmt == "sav":
        pyreadstat.write_sav(df, str(path), file_label=table_label, column_labels=labels,
                             variable_value_labels=value_labels)
    else:
        raise ValueError(f"Unknown statistical format {fmt!r}; expected xpt, dta or sav.")
    return len(df)
