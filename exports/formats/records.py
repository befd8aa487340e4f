"""Fixed-width binary records built by PostgreSQL, for the SAS (XPT), Stata (DTA) and SPSS
(SAV) writers.

The three formats store a table as fixed-width observations: numbers as 8-byte floats,
text as blank- or NUL-padded bytes of a declared width. Nothing of that width depends on
the data (it is the data dictionary's, exports.metadata.text_bytes), so PostgreSQL can lay
out each observation itself: one SQL statement wraps the table's query and returns per row
one `bytea` of a fixed length,

- numbers as IEEE doubles (float8send, big-endian), missing as NaN; dates, instants and
  code lists already turned into the package's numbers in SQL (days or seconds since the
  package's epoch, whole seconds in UTC; the codes 1…n of a text code list);
- text as its UTF-8 bytes padded to the declared width (a split XPT variable's pieces, an
  SPSS very long string's segments laid out as the format wants them); a wide text column
  (free text, JSON: more than WIDE_TEXT bytes, mostly empty or short) only as its first
  WIDE_PREFIX bytes, so the padding does not cross the socket;

and, only for a row with a text longer than what SQL placed (longer than the width, than
one 200-byte SAS piece, or than a wide column's prefix), the row's texts beside it, which
Python places, cuts (at a character boundary, counted) or splits (at a word) itself.

Rows are fetched in binary through a server-side cursor in chunks of about CHUNK_BYTES
(a thread fetches the next chunk while this one is finished: `prefetched`). numpy lays a
chunk's records over a template of padding, turns its numbers into the format's own
(IBM floats, Stata's or SPSS's missing value, little-endian) in one vectorized step, and
the chunk goes to the file as it is. Python does no work per value (only per long text):
an export holds a few chunks, never a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from exports import metadata
from exports.columns import Column
from exports.formats import xpt as xptlib
from exports.formats.stat_coding import _int_codes, is_numeric

CHUNK_BYTES = 2 << 20  # rows per fetch: about this many bytes of records
PREFETCH = 2  # chunks fetched ahead


def prefetched(fetch: Callable[[], object]) -> Iterator:
    """The results of fetch() until it returns None, fetched by a thread while the caller
    works on the previous one: PostgreSQL computes the next chunk while Python finishes and
    writes this one (the two cores work at the same time). At most PREFETCH results wait;
    the thread only reads a cursor the caller opened and does not use otherwise meanwhile."""
    import queue
    import threading

    pending: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()
    done = object()

    def run() -> None:
        try:
            while not stop.is_set():
                item = fetch()
                if item is None:
                    break
                pending.put(item)
            pending.put(done)
        except BaseException as exc:  # handed to the consumer
            pending.put(exc)

    thread = threading.Thread(target=run, name="export-fetch", daemon=True)
    thread.start()
    try:
        while (item := pending.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a blocked put() finish
            try:
                pending.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def literal(text: str) -> str:
    """A SQL string literal (the statement also goes through psycopg: % doubled)."""
    return "'" + str(text).replace("'", "''").replace("%", "%%") + "'"


# Seconds from the package's epoch to 1970-01-01 (SAS and Stata: 1960-01-01; SPSS:
# 1582-10-14, the Gregorian calendar's first day).
EPOCH_SQL = {"xpt": "DATE '1960-01-01'", "dta": "DATE '1960-01-01'", "sav": "DATE '1582-10-14'"}
EPOCH_OFFSET = {"xpt": 315619200, "dta": 315619200, "sav": 12219379200}


def numeric_sql(c: Column, ref: str, fmt: str) -> str:
    """The float8 of a column in the package's coding (exports.formats.stat_coding)."""
    if c.kind == "boolean":
        return f"({ref})::integer::float8"
    if c.kind == "date":
        days = f"(({ref})::date - {EPOCH_SQL[fmt]})::float8"
        return f"{days} * 86400" if fmt == "sav" else days
    if c.kind == "datetime":
        # Whole seconds, UTC (an instant's epoch does not depend on the session's zone).
        seconds = f"(floor(extract(epoch FROM ({ref})::timestamptz))::float8 + {EPOCH_OFFSET[fmt]})"
        return f"{seconds} * 1000" if fmt == "dta" else seconds  # Stata %tc: milliseconds
    if c.kind == "time":
        return f"floor(extract(epoch FROM ({ref})::time))::float8"
    if c.choices and not _int_codes(c):
        whens = " ".join(f"WHEN {literal(code)} THEN {i}" for i, (code, _l) in
                         enumerate(c.choices, start=1))
        return f"(CASE ({ref})::text {whens} END)::float8"
    return f"({ref})::float8"


@dataclass
class TextSlot:
    """A text column's place in the record: `pieces` are (start in the value's bytes, bytes
    taken, bytes in the record), laid out one after the other from `offset`."""

    column: int
    offset: int
    width: int  # the declared width (a longer value is cut)
    pieces: list[tuple[int, int, int]]
    limit: int  # a value longer than this many bytes is laid out by Python (`place`)
    wide: bool  # SQL sends only the first WIDE_PREFIX bytes (numpy pads the rest)

    @property
    def length(self) -> int:
        return sum(dst for _s, _n, dst in self.pieces)


def cut_utf8(raw: bytes, width: int) -> tuple[bytes, bool]:
    """`raw` in at most `width` bytes, cut at a character boundary; and whether it was cut."""
    if len(raw) <= width:
        return raw, False
    end = width
    while end > 0 and (raw[end] & 0xC0) == 0x80:
        end -= 1
    return raw[:end], True


# Text columns wider than WIDE_TEXT bytes (free text, JSON answers: mostly empty or short)
# are sent by SQL in WIDE_PREFIX bytes only: numpy lays down the rest of the padding, and a
# longer value is placed by Python. The records cross the socket without their padding.
WIDE_TEXT = 200
WIDE_PREFIX = 64


@dataclass
class RecordLayout:
    """The record of one table in one format (see the module's docstring).

    `text_pieces(width)` gives the pieces of a text column of that declared width;
    `text_limit(width)` the longest value SQL may lay out; `place(value bytes, slot)` returns
    the record bytes of a longer value and whether it was cut; `convert` turns an (n, m)
    array of big-endian doubles (NaN: missing) into the format's 8-byte numbers (n, m)."""

    columns: list[Column]
    fmt: str
    text_pieces: Callable[[int], list[tuple[int, int, int]]]
    text_limit: Callable[[int], int]
    place: Callable[[bytes, TextSlot], tuple[bytes, bool]]
    convert: Callable[[np.ndarray], np.ndarray]
    pad: bytes = b" "
    max_width: int = 32767  # the format's longest text (Stata str#: 2045 bytes)
    numeric_columns: set[int] = field(default_factory=set)
    texts: list[TextSlot] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # byte offsets in SQL's (compact) record
    length: int = 0
    compact: int = 0  # bytes of the record SQL sends (without the wide text columns)
    runs: list[tuple[int, int, int]] = field(default_factory=list)  # (compact, full, bytes)
    cut: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        offset = compact = 0
        for i, c in enumerate(self.columns):
            if is_numeric(c) or c.kind in ("date", "datetime") or (c.kind == "time" and self.fmt == "xpt"):
                self.numeric_columns.add(i)
                self.numbers.append(compact)
                self._run(compact, offset, 8)
                offset += 8
                compact += 8
                continue
            width = min(metadata.text_bytes(c), self.max_width)
            slot = TextSlot(i, offset, width, self.text_pieces(width), self.text_limit(width),
                            wide=width > WIDE_TEXT)
            self.texts.append(slot)
            sent = WIDE_PREFIX if slot.wide else slot.length
            self._run(compact, offset, sent)
            compact += sent
            offset += slot.length
        self.length, self.compact = offset, compact
        idx = [np.arange(off, off + 8) for off in self.numbers]
        self._number_bytes = np.concatenate(idx) if idx else np.zeros(0, dtype=np.intp)
        self._template = np.frombuffer(self.pad * self.length, dtype=np.uint8)

    def _run(self, compact: int, full: int, n: int) -> None:
        if self.runs and self.runs[-1][0] + self.runs[-1][2] == compact \
                and self.runs[-1][1] + self.runs[-1][2] == full:
            c0, f0, n0 = self.runs[-1]
            self.runs[-1] = (c0, f0, n0 + n)
        else:
            self.runs.append((compact, full, n))

    # --- SQL -----------------------------------------------------------------------------
    def sql(self, inner: str) -> str:
        """SELECT (compact record bytea, the row's texts when one needs Python, else NULL)
        FROM the rows of `inner`, in its order."""
        n = len(self.columns)
        aliases = [f"c{i}" for i in range(n)]
        prepared = []
        for i, c in enumerate(self.columns):
            if i in self.numeric_columns:
                prepared.append(f"float8send(coalesce({numeric_sql(c, aliases[i], self.fmt)}, "
                                f"'NaN'::float8)) AS p{i}")
            else:
                prepared.append(f"convert_to(coalesce(({aliases[i]})::text, ''), 'UTF8') AS p{i}")
        pad = self.pad.hex()
        parts = []
        slots = {s.column: s for s in self.texts}
        for i in range(n):
            if i in self.numeric_columns:
                parts.append(f"p{i}")
                continue
            s = slots[i]
            pieces = [(0, WIDE_PREFIX, WIDE_PREFIX)] if s.wide else s.pieces
            for start, taken, dst in pieces:
                # padded to the piece's bytes (the padding is a constant: folded once); a
                # piece that starts the value needs no cut first (a longer value comes to
                # Python anyway, which lays out that row's text itself)
                piece = f"p{i}" if start == 0 else f"substring(p{i} FROM {start + 1} FOR {taken})"
                parts.append(f"substring({piece} || decode(repeat('{pad}', {dst}), 'hex') FROM 1 FOR {dst})")
        record = " || ".join(parts) if parts else "''::bytea"
        if self.texts:
            needs = " OR ".join(f"octet_length(p{s.column}) > {self._sent(s)}" for s in self.texts)
            texts = ", ".join(f"p{s.column}" for s in self.texts)
            extra = f"CASE WHEN {needs} THEN ARRAY[{texts}] END"
        else:
            extra = "NULL::bytea[]"
        return (f"SELECT {record}, {extra} FROM (SELECT {', '.join(prepared)} "
                f"FROM ({inner}) AS t({', '.join(aliases)})) AS u")

    @staticmethod
    def _sent(s: TextSlot) -> int:
        """The longest value SQL places itself (a longer one comes to Python whole)."""
        return WIDE_PREFIX if s.wide else s.limit

    # --- rows ----------------------------------------------------------------------------
    def chunks(self, inner: str | None, params) -> Iterator[np.ndarray]:
        """(n, length) uint8 arrays of finished records, chunk by chunk (fetched ahead by a
        thread: see prefetched)."""
        from django.db import connection

        if inner is None:
            return
        rows_per_fetch = max(50, CHUNK_BYTES // max(self.length, 1))
        with connection.chunked_cursor() as wrapper:
            cursor = wrapper.cursor  # psycopg's server-side cursor: binary rows, no Django
            cursor.execute(self.sql(inner), params, binary=True)

            def fetch():
                rows = cursor.fetchmany(rows_per_fetch)
                if not rows:
                    return None
                long_ = [(i, texts) for i, (_r, texts) in enumerate(rows) if texts is not None]
                return b"".join([r[0] for r in rows]), len(rows), long_

            for item in prefetched(fetch):
                yield self._finish(*item)

    def _finish(self, data: bytes, n: int, long_: list[tuple[int, list]]) -> np.ndarray:
        compact = np.frombuffer(data, dtype=np.uint8).reshape(n, self.compact)
        out = np.empty((n, self.length), dtype=np.uint8)
        out[:] = self._template
        for c0, f0, k in self.runs:
            out[:, f0:f0 + k] = compact[:, c0:c0 + k]
        if self.numbers:
            raw = np.ascontiguousarray(compact[:, self._number_bytes])  # (n, 8m)
            doubles = raw.reshape(n, len(self.numbers), 8).view(">f8")[..., 0]
            converted = np.ascontiguousarray(self.convert(doubles)).view(np.uint8).reshape(n, -1, 8)
            for k, (_c0, f0) in enumerate(self._number_targets()):
                out[:, f0:f0 + 8] = converted[:, k, :]
        for r, texts in long_:
            for s, value in zip(self.texts, texts, strict=True):
                if len(value) <= self._sent(s):
                    continue
                value = bytes(value)
                if len(value) <= s.limit:
                    placed = self.lay_out(value, s)
                else:
                    placed, was_cut = self.place(value, s)
                    if was_cut:
                        name = self.columns[s.column].name
                        self.cut[name] = self.cut.get(name, 0) + 1
                out[r, s.offset:s.offset + s.length] = np.frombuffer(placed, dtype=np.uint8)
        return out

    def _number_targets(self) -> list[tuple[int, int]]:
        if not hasattr(self, "_targets"):
            targets = []
            for c0 in self.numbers:
                for r0, f0, k in self.runs:
                    if r0 <= c0 < r0 + k:
                        targets.append((c0, f0 + c0 - r0))
                        break
            self._targets = targets
        return self._targets

    def lay_out(self, value: bytes, s: TextSlot) -> bytes:
        """`value` (at most the width) in the slot's pieces, padded."""
        out = bytearray()
        for start, taken, dst in s.pieces:
            out += value[start:start + taken].ljust(dst, self.pad)
        return bytes(out)


# --- the three formats ---------------------------------------------------------------------
STATA_STR_MAX = 2045  # bytes of Stata's longest str# (longer text: cut, counted)
STATA_MISSING = 2.0 ** 1023  # Stata's "." for a double (8.988e307)
SPSS_SYSMIS = -np.finfo(np.float64).max  # SPSS's system-missing value (-DBL_MAX)
SPSS_SEGMENT = 255  # bytes of a very long string's segment (each stored in 256)


def _little_endian(missing: float):
    def convert(doubles: np.ndarray) -> np.ndarray:
        out = doubles.astype("<f8")
        out[np.isnan(out)] = missing
        return out
    return convert


def xpt_layout(columns: list[Column]) -> RecordLayout:
    """SAS V5: a text column of W bytes is ceil(W/200) variables of at most 200 bytes, laid
    out one after the other, so a value of at most 200 bytes needs nothing but padding."""
    def place(value: bytes, s: TextSlot) -> tuple[bytes, bool]:
        widths = xptlib.segment_widths(s.width)
        pieces, was_cut = xptlib.split_utf8(value, widths)
        return b"".join(p.ljust(w, b" ") for p, w in zip(pieces, widths, strict=True)), was_cut

    return RecordLayout(columns, "xpt", text_pieces=lambda w: [(0, w, w)],
                        text_limit=lambda w: min(w, metadata.SAS_CHAR_LIMIT), place=place,
                        convert=xptlib.ibm_floats)


def dta_layout(columns: list[Column]) -> RecordLayout:
    """Stata str#: the declared width, NUL-padded; a longer value is cut at a character."""
    layout = None

    def place(value: bytes, s: TextSlot) -> tuple[bytes, bool]:
        kept, was_cut = cut_utf8(value, s.width)
        return layout.lay_out(kept, s), was_cut

    layout = RecordLayout(columns, "dta", text_pieces=lambda w: [(0, w, w)], text_limit=lambda w: w,
                          place=place, convert=_little_endian(STATA_MISSING), pad=b"\x00",
                          max_width=STATA_STR_MAX)
    return layout


def sav_segments(width: int) -> list[tuple[int, int, int]]:
    """SPSS: a string of at most 255 bytes takes its width rounded up to 8 bytes; a very long
    string is ceil(W/252) segments, each but the last of 255 bytes stored in 256, the last
    W − 252·(n−1) bytes (the layout SPSS, PSPP and ReadStat use)."""
    if width <= SPSS_SEGMENT:
        return [(0, width, -(-width // 8) * 8)]
    n = (width + 251) // 252
    last = width - 252 * (n - 1)
    pieces = [(SPSS_SEGMENT * k, SPSS_SEGMENT, 256) for k in range(n - 1)]
    return pieces + [(SPSS_SEGMENT * (n - 1), last, -(-last // 8) * 8)]


def sav_layout(columns: list[Column]) -> RecordLayout:
    layout = None

    def place(value: bytes, s: TextSlot) -> tuple[bytes, bool]:
        kept, was_cut = cut_utf8(value, s.width)
        return layout.lay_out(kept, s), was_cut

    layout = RecordLayout(columns, "sav", text_pieces=sav_segments, text_limit=lambda w: w,
                          place=place, convert=_little_endian(SPSS_SYSMIS))
    return layout
