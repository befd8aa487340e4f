"""SAS transport files, version 5 (the format FDA and CDE require), written as a stream.

A V5 file is 80-byte records: library header, member header, one 140-byte NAMESTR per
variable, then the observations back to back (numbers as 8-byte IBM hexadecimal floats,
characters as fixed-width blank-padded bytes), the last record padded with blanks. Nothing in
it depends on the data but the observations, so they are written chunk by chunk as
exports.formats.records lays them out: the writer never holds a table.

Rules of V5 kept here (the metadata comes from the data dictionary, exports.metadata):
- dataset and variable names: at most 8 characters, upper case (pinned short names);
- labels: at most 40 bytes (cut at a word; the full label is in the dictionary/Define-XML);
- character variables: at most 200 bytes. A longer declared width is split into several
  variables of 200 bytes (NAME, NAME1, NAME2…), each piece cut at a character boundary so it
  decodes alone; text beyond the declared width is cut and counted (`XptWriter.cut`);
- text is UTF-8 (read with encoding="utf-8");
- dates are SAS dates (days since 1960-01-01, format E8601DA10.), instants SAS datetimes in
  UTC (seconds since 1960-01-01T00:00:00, whole seconds, E8601DT19.), times seconds since
  midnight (TIME8.); missing numbers are the SAS missing value ".".
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from exports.metadata import SAS_CHAR_LIMIT, cut_label

CHUNK = 2000


@dataclass(frozen=True)
class XptVariable:
    name: str
    label: str
    numeric: bool
    length: int = 8  # bytes (numbers: always 8)
    format: str = ""  # format name without the period, e.g. "E8601DA", "SEXF"
    format_length: int = 0
    format_decimals: int = 0


def _header(kind: str, tail: str = "0" * 30) -> bytes:
    text = f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!{tail}".ljust(80)
    return text.encode("ascii")


def _stamp(at: dt.datetime) -> str:
    return at.strftime("%d%b%y:%H:%M:%S").upper()


def ibm_floats(values: np.ndarray) -> np.ndarray:
    """IEEE doubles → 8-byte IBM hexadecimal floats (big-endian uint64); NaN → SAS ".".

    Exact for every double in IBM range: the 53-bit mantissa fits the 56-bit one with the
    at most 3-bit shift that the base-16 exponent needs."""
    x = np.asarray(values, dtype=np.float64)
    bits = x.view(np.uint64)
    sign = (bits >> np.uint64(63)) & np.uint64(1)
    exp = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    mant = ((bits & np.uint64(0xFFFFFFFFFFFFF)) | np.uint64(1 << 52)) << np.uint64(3)
    b = exp - 1022  # x = mant / 2**56 * 2**b
    e16 = -np.floor_divide(-b, 4)  # ceil(b / 4)
    shift = (4 * e16 - b).astype(np.uint64)
    mant = mant >> shift
    e = e16 + 64
    out = (sign << np.uint64(63)) | (np.clip(e, 0, 127).astype(np.uint64) << np.uint64(56)) | mant
    out = np.where((exp == 0) | (e < 0), np.uint64(0), out)  # zero, denormals, underflow
    out = np.where(e > 127, (sign << np.uint64(63)) | np.uint64(0x7FFFFFFFFFFFFFFF), out)
    out = np.where(np.isnan(x), np.uint64(0x2E << 56), out)
    return out.astype(">u8")


def split_utf8(raw: bytes, widths: list[int]) -> tuple[list[bytes], bool]:
    """Cut `raw` into pieces of at most the given widths; returns the pieces and whether
    something was left over (cut). A piece ends before a blank where it can (between words,
    as SAS submissions split text: readers strip a piece's trailing blanks, so a blank at
    the end of a piece would be lost), else at a character boundary (UTF-8)."""
    pieces = []
    pos = 0
    for w in widths:
        end = min(pos + w, len(raw))
        if end < len(raw):
            while end > pos and (raw[end] & 0xC0) == 0x80:
                end -= 1
            blank = raw.rfind(b" ", pos, end + 1)
            if blank > pos:
                end = blank
            while end > pos and raw[end - 1] == 0x20:
                end -= 1
            if end == pos:  # only blanks: keep them (they are inner blanks of the text)
                end = min(pos + w, len(raw))
        pieces.append(raw[pos:end])
        pos = end
    return pieces, pos < len(raw)


def segment_widths(total: int) -> list[int]:
    widths = []
    while total > 0:
        widths.append(min(SAS_CHAR_LIMIT, total))
        total -= SAS_CHAR_LIMIT
    return widths or [1]


class XptWriter:
    """Write one SAS V5 data set: `write_header()`, then `write_rows()` any number of times
    with rows of Python values (numbers as float/None, text as str), then `close()`."""

    def __init__(self, fh: BinaryIO, *, dataset: str, label: str, variables: list[XptVariable],
                 created: dt.datetime | None = None):
        if not variables:
            raise ValueError("A SAS data set needs at least one variable.")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ValueError(f"Duplicate SAS variable names in {dataset}: {names}")
        for v in variables:
            if not (1 <= len(v.name) <= 8) or v.name.upper() != v.name:
                raise ValueError(f"SAS V5 variable name {v.name!r}: 1–8 upper-case characters.")
            if not v.numeric and not (1 <= v.length <= SAS_CHAR_LIMIT):
                raise ValueError(f"SAS V5 character variable {v.name}: 1–200 bytes.")
        self.fh = fh
        self.dataset = dataset.upper()[:8]
        self.label = label
        self.variables = variables
        self.created = (created or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
        self.record_length = sum(v.length for v in variables)
        self.rows = 0
        self.bytes = 0
        self.dtype = np.dtype([(f"f{i}", ">u8" if v.numeric else f"S{v.length}")
                               for i, v in enumerate(variables)])

    def _write(self, data) -> None:
        self.fh.write(data)
        self.bytes += memoryview(data).nbytes

    def write_header(self) -> None:
        stamp = _stamp(self.created)
        self._write(_header("LIBRARY"))
        self._write(("SAS     SAS     SASLIB  9.4     X64_LIN " + " " * 24 + stamp).encode("ascii"))
        self._write((stamp + " " * 64).encode("ascii"))
        self._write(_header("MEMBER", "000000000000000001600000000140"))
        self._write(_header("DSCRPTR"))
        self._write((f"SAS     {self.dataset:<8}SASDATA 9.4     X64_LIN " + " " * 24
                     + stamp).encode("ascii"))
        label = cut_label(self.label, 40).encode("utf-8").ljust(40)
        self._write((stamp + " " * 16).encode("ascii") + label + b" " * 8)
        self._write(_header("NAMESTR", f"000000{len(self.variables):04d}" + "0" * 20))
        namestrs = bytearray()
        pos = 0
        for i, v in enumerate(self.variables, start=1):
            namestrs += struct.pack(
                ">hhhh8s40s8shhh2s8shhi52s",
                1 if v.numeric else 2, 0, v.length, i,
                v.name.encode("ascii").ljust(8), cut_label(v.label, 40).encode("utf-8").ljust(40),
                v.format.encode("ascii").ljust(8), v.format_length, v.format_decimals,
                0 if v.numeric else 0, b"\x00\x00", b" " * 8, 0, 0, pos, b"\x00" * 52)
            pos += v.length
        if len(namestrs) % 80:
            namestrs += b" " * (80 - len(namestrs) % 80)
        self._write(bytes(namestrs))
        self._write(_header("OBS"))

    def write_rows(self, rows: list[list]) -> None:
        """One chunk of rows, each a list in variable order (numbers: float or None; text:
        bytes already cut to the variable's length)."""
        if not rows:
            return
        out = np.empty(len(rows), dtype=self.dtype)
        for i, v in enumerate(self.variables):
            column = [r[i] for r in rows]
            if v.numeric:
                out[f"f{i}"] = ibm_floats(np.array([np.nan if x is None else x for x in column],
                                                   dtype=np.float64))
            else:
                out[f"f{i}"] = [x.ljust(v.length) for x in column]
        self._write(out.tobytes())
        self.rows += len(rows)

    def write_records(self, data, n: int) -> None:
        """Finished observations (bytes or a buffer: exports.formats.records), `n` of them."""
        if memoryview(data).nbytes != n * self.record_length:
            raise ValueError(f"{self.dataset}: {len(data)} bytes for {n} observations of "
                             f"{self.record_length}")
        self._write(data)
        self.rows += n

    def close(self) -> None:
        if self.bytes % 80:
            self._write(b" " * (80 - self.bytes % 80))
