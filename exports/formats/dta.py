"""Stata .dta files, format 118 (Stata 14 and later; read by Stata, pandas, pyreadstat/R
haven), written as a stream.

The layout (Stata's "dta_118" description): an XML-like frame of tagged sections — header
(release, byte order, K variables, N observations, label, time stamp), a map of the file
offsets of every section, the variable types, names, sort list, display formats, value
label names, variable labels, characteristics, then the observations back to back (fixed
width: doubles and str# of the declared width, NUL-padded), strLs, and the value labels.
N and the map are known only at the end: they are written as zeros first and filled in
when the file is closed, so rows go straight from the database to the file.

Types come from the data dictionary, never from the data: every number is a double (missing
"." = 2¹⁰²³), every text a str# of its declared byte width (at most 2045; UTF-8), dates %td
(days since 1960-01-01), instants %tc (milliseconds since 1960-01-01T00:00:00, UTC, whole
seconds). Little-endian (LSF).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from typing import BinaryIO

DOUBLE = 65526  # Stata's type code of a double (str# are 1–2045)
STR_MAX = 2045
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class DtaVariable:
    name: str  # a Stata name (≤ 32 characters)
    label: str  # ≤ 80 characters
    width: int = 0  # 0: a double; else a str# of this many bytes
    format: str = "%10.0g"
    value_labels: dict[int, str] | None = None


def _fixed(text: str, size: int) -> bytes:
    raw = text.encode("utf-8")[: size - 1]
    while raw:
        try:
            raw.decode("utf-8")
            break
        except UnicodeDecodeError:
            raw = raw[:-1]
    return raw.ljust(size, b"\x00")


def _tag(name: str, body: bytes = b"") -> bytes:
    return f"<{name}>".encode() + body + f"</{name}>".encode()


class DtaWriter:
    """`write_header()`, then `write(records)` with finished observations (bytes), then
    `close()`."""

    def __init__(self, fh: BinaryIO, *, label: str, variables: list[DtaVariable],
                 created: dt.datetime | None = None):
        if not variables or len(variables) > 32767:
            raise ValueError("A Stata 118 file holds 1–32,767 variables.")
        for v in variables:
            if v.width and not 1 <= v.width <= STR_MAX:
                raise ValueError(f"Stata str# {v.name}: 1–{STR_MAX} bytes, not {v.width}.")
        self.fh = fh
        self.label = label
        self.variables = variables
        self.created = created or dt.datetime.now(dt.UTC)
        self.rows = 0
        self.map = [0] * 14
        self._n_at = 0
        self._map_at = 0

    def _pos(self) -> int:
        return self.fh.tell()

    def write_header(self) -> None:
        fh, K = self.fh, len(self.variables)
        self.map[0] = self._pos()
        label = self.label.encode("utf-8")[:320]
        stamp = self.created
        when = f"{stamp.day:02d} {MONTHS[stamp.month - 1]} {stamp.year:04d} {stamp.hour:02d}:{stamp.minute:02d}"
        fh.write(b"<stata_dta><header>" + _tag("release", b"118") + _tag("byteorder", b"LSF")
                 + _tag("K", struct.pack("<H", K)) + b"<N>")
        self._n_at = self._pos()
        fh.write(struct.pack("<Q", 0) + b"</N>" + _tag("label", struct.pack("<H", len(label)) + label)
                 + _tag("timestamp", bytes([17]) + when.encode("ascii")) + b"</header>")
        self.map[1] = self._pos()
        fh.write(b"<map>")
        self._map_at = self._pos()
        fh.write(b"\x00" * 8 * 14 + b"</map>")
        sections = [
            ("variable_types", b"".join(struct.pack("<H", v.width or DOUBLE) for v in self.variables)),
            ("varnames", b"".join(_fixed(v.name, 129) for v in self.variables)),
            ("sortlist", b"\x00\x00" * (K + 1)),
            ("formats", b"".join(_fixed(v.format, 57) for v in self.variables)),
            ("value_label_names", b"".join(_fixed(v.name if v.value_labels else "", 129)
                                           for v in self.variables)),
            ("variable_labels", b"".join(_fixed(v.label, 321) for v in self.variables)),
            ("characteristics", b""),
        ]
        for k, (name, body) in enumerate(sections, start=2):
            self.map[k] = self._pos()
            fh.write(_tag(name, body))
        self.map[9] = self._pos()
        fh.write(b"<data>")

    def write(self, records: bytes, n: int) -> None:
        self.fh.write(records)
        self.rows += n

    def close(self) -> None:
        fh = self.fh
        fh.write(b"</data>")
        self.map[10] = self._pos()
        fh.write(b"<strls></strls>")
        self.map[11] = self._pos()
        fh.write(b"<value_labels>")
        for v in self.variables:
            if not v.value_labels:
                continue
            items = sorted(v.value_labels.items())
            texts = [_fixed(str(label), 32000).rstrip(b"\x00") + b"\x00" for _c, label in items]
            offsets, at = [], 0
            for t in texts:
                offsets.append(at)
                at += len(t)
            table = (struct.pack("<ii", len(items), at)
                     + struct.pack(f"<{len(items)}i", *offsets)
                     + struct.pack(f"<{len(items)}i", *(int(c) for c, _l in items)) + b"".join(texts))
            fh.write(b"<lbl>" + struct.pack("<i", len(table)) + _fixed(v.name, 129) + b"\x00" * 3
                     + table + b"</lbl>")
        fh.write(b"</value_labels>")
        self.map[12] = self._pos()
        fh.write(b"</stata_dta>")
        self.map[13] = self._pos()
        end = self._pos()
        fh.seek(self._n_at)
        fh.write(struct.pack("<Q", self.rows))
        fh.seek(self._map_at)
        fh.write(struct.pack("<14Q", *self.map))
        fh.seek(end)
