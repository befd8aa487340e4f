"""SPSS .sav system files (uncompressed, UTF-8), written as a stream.

Layout (the SPSS system file format as PSPP documents it): the file header record; one
variable record (type 2) per variable — plus a continuation record per further 8 bytes of
a string, and for a very long string (more than 255 bytes) one more variable per segment;
value labels (types 3 and 4); the extension records (type 7): machine integer and floating
point info (3, 4), display parameters (11), long variable names (13), very long strings
(14), the number of cases (16) and the character encoding (20); the dictionary end (999);
then the cases back to back, fixed width (numbers: doubles, system-missing = −DBL_MAX;
strings blank-padded to a multiple of 8 bytes). The number of cases is known only at the
end: it is written as −1 / 0 first and filled in when the file is closed.

Types come from the data dictionary, never from the data: every number is a double with an
F format, every string A<declared byte width>, dates DATE11 and instants DATETIME20 (seconds
since 1582-10-14, UTC, whole seconds).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from typing import BinaryIO

from exports.formats.records import sav_segments

FORMAT_TYPES = {"A": 1, "F": 5, "DATE": 20, "DATETIME": 22}
MEASURES = {"nominal": 1, "ordinal": 2, "scale": 3}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SYSMIS = b"\xff\xff\xff\xff\xff\xff\xef\xff"  # −DBL_MAX, little-endian


@dataclass(frozen=True)
class SavVariable:
    name: str  # the long name (≤ 64 bytes)
    label: str  # ≤ 256 bytes
    width: int = 0  # 0: numeric; else string bytes
    format: tuple[str, int, int] = ("F", 8, 2)  # (type, width, decimals)
    measure: str = "scale"
    value_labels: dict[int, str] | None = None


def _format(kind: str, width: int, decimals: int) -> int:
    return (FORMAT_TYPES[kind] << 16) | (min(width, 255) << 8) | decimals


def _utf8_cut(text: str, limit: int) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return raw
    raw = raw[:limit]
    while raw and (raw[-1] & 0xC0) == 0x80:
        raw = raw[:-1]
    if raw and raw[-1] >= 0xC0:
        raw = raw[:-1]
    return raw


class SavWriter:
    """`write_header()`, then `write(records, n)` with finished cases, then `close()`."""

    def __init__(self, fh: BinaryIO, *, label: str, variables: list[SavVariable],
                 created: dt.datetime | None = None):
        if not variables:
            raise ValueError("An SPSS file needs at least one variable.")
        self.fh = fh
        self.label = label
        self.variables = variables
        self.created = created or dt.datetime.now(dt.UTC)
        self.rows = 0
        self.short = [f"V{i}" for i in range(1, len(variables) + 1)]
        self.case_units = sum(sum(dst for _s, _t, dst in sav_segments(v.width)) // 8 if v.width else 1
                              for v in variables)
        self._ncases_at = 0
        self._ncases16_at = 0

    def _variable(self, name: str, width: int, fmt: int, label: bytes | None) -> bytes:
        out = struct.pack("<iiiiii8s", 2, width, 1 if label is not None else 0, 0, fmt, fmt,
                          name.encode("ascii").ljust(8))
        if label is not None:
            out += struct.pack("<i", len(label)) + label.ljust(-(-len(label) // 4) * 4, b" ")
        storage = -(-width // 8) * 8 if width else 8
        for _ in range(min(storage // 8, 32) - 1):  # continuation records
            out += struct.pack("<iiiiii8s", 2, -1, 0, 0, 0x011D01, 0x011D01, b" " * 8)
        return out

    @staticmethod
    def _extension(subtype: int, size: int, body: bytes) -> bytes:
        return struct.pack("<iiii", 7, subtype, size, len(body) // size) + body

    def write_header(self) -> None:
        fh = self.fh
        at = self.created
        date = f"{at.day:02d} {MONTHS[at.month - 1]} {at.year % 100:02d}".encode("ascii")
        time = f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}".encode("ascii")
        header = (b"$FL2" + b"@(#) SPSS DATA FILE - ANGEL-RESCUE EDC".ljust(60)
                  + struct.pack("<iiii", 2, self.case_units, 0, 0))
        self._ncases_at = len(header)
        header += struct.pack("<id", -1, 100.0) + date + time + _utf8_cut(self.label, 64).ljust(64) + b"\x00" * 3
        fh.write(header)
        records = bytearray()
        index = 1  # 1-based position in 8-byte units (value labels name variables by it)
        positions = []
        segments_total = 0
        for short, v in zip(self.short, self.variables, strict=True):
            positions.append(index)
            label = _utf8_cut(v.label, 256)
            if not v.width:
                records += self._variable(short, 0, _format(*v.format), label)
                index += 1
                segments_total += 1
                continue
            segments = sav_segments(v.width)
            first_width = min(v.width, 255)
            records += self._variable(short, first_width, _format("A", v.width, 0), label)
            index += segments[0][2] // 8
            for k, (_start, taken, dst) in enumerate(segments[1:], start=1):
                records += self._variable(f"{short}_{k}", taken, _format("A", taken, 0), None)
                index += dst // 8
            segments_total += len(segments)
        for pos, v in zip(positions, self.variables, strict=True):
            if v.width or not v.value_labels:
                continue
            items = sorted(v.value_labels.items())
            records += struct.pack("<ii", 3, len(items))
            for code, text in items:
                raw = _utf8_cut(str(text), 120)
                records += struct.pack("<d", float(code)) + bytes([len(raw)])
                records += raw.ljust(-(-(len(raw) + 1) // 8) * 8 - 1, b" ")
            records += struct.pack("<iii", 4, 1, pos)
        records += self._extension(3, 4, struct.pack("<8i", 1, 0, 0, -1, 1, 1, 2, 65001))
        records += self._extension(4, 8, SYSMIS + b"\xff\xff\xff\xff\xff\xff\xef\x7f"
                                   + b"\xfe\xff\xff\xff\xff\xff\xef\xff")
        display = bytearray()
        for v in self.variables:
            n = len(sav_segments(v.width)) if v.width else 1
            width = min(max(v.width, 8), 255) if v.width else 8
            for _ in range(n):
                display += struct.pack("<iii", MEASURES[v.measure], width, 0 if v.width else 1)
        records += self._extension(11, 4, bytes(display))
        names = "\t".join(f"{s}={v.name}" for s, v in zip(self.short, self.variables, strict=True))
        records += self._extension(13, 1, names.encode("utf-8"))
        long = b"".join(f"{s}={v.width}".encode("ascii") + b"\x00\t"
                        for s, v in zip(self.short, self.variables, strict=True) if v.width > 255)
        if long:
            records += self._extension(14, 1, long)
        fh.write(bytes(records))
        fh.write(struct.pack("<iiii", 7, 16, 8, 2) + struct.pack("<q", 1))
        self._ncases16_at = fh.tell()
        fh.write(struct.pack("<q", -1))
        fh.write(self._extension(20, 1, b"UTF-8"))
        fh.write(struct.pack("<ii", 999, 0))

    def write(self, records: bytes, n: int) -> None:
        self.fh.write(records)
        self.rows += n

    def close(self) -> None:
        end = self.fh.tell()
        self.fh.seek(self._ncases_at)
        self.fh.write(struct.pack("<i", min(self.rows, 2**31 - 1)))
        self.fh.seek(self._ncases16_at)
        self.fh.write(struct.pack("<q", self.rows))
        self.fh.seek(end)
