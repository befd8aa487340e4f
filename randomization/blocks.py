"""Stratified permuted-block allocation lists (SPEC §5) — pure Python, no ORM.

The algorithm, fixed here so that anyone holding the seed can regenerate and check a list:

1. Strata are `"{site}-{circulation}"` for every site code and circulation
   (`anterior`, `posterior`), processed in sorted order.
2. Each stratum has its own random stream: Python's Mersenne Twister (`random.Random`) seeded
   with the integer value of SHA-256(`"{seed}|{stratum}"`). Adding a site later therefore never
   changes the sequence of an existing stratum.
3. Blocks are drawn until the stratum holds at least `entries_per_stratum` entries (whole
   blocks only, so every completed block is balanced): the block size is `rng.choice(block_sizes)`
   (sizes 2 and 4, equally likely); the block holds size/2 × STENTING and size/2 ×
   CONTINUED_MT, put in order by `rng.shuffle`.
4. The list's fingerprint is the SHA-256 of its canonical CSV (`to_csv`): header
   `stratum,sequence,block,block_size,arm`, one line per entry sorted by stratum then
   sequence, `\\n` line ends. The same seed and parameters give the same list and fingerprint.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from core.csvsafe import neutralise_row

ARMS = ("STENTING", "CONTINUED_MT")
CIRCULATIONS = ("anterior", "posterior")
DEFAULT_BLOCK_SIZES = (2, 4)
CSV_HEADER = ("stratum", "sequence", "block", "block_size", "arm")
STRATUM_RE = re.compile(r"^\d{3}-(anterior|posterior)$")
ALGORITHM = "stratified permuted blocks v1: MT19937 seeded by sha256(seed|stratum); sizes by choice, order by shuffle"


@dataclass(frozen=True)
class Entry:
    stratum: str
    sequence: int  # 1-based position within the stratum
    block: int  # 1-based block number within the stratum
    block_size: int
    arm: str


def stratum_of(site_code: str, circulation: str) -> str:
    return f"{site_code}-{circulation}"


def stratum_rng(seed: str, stratum: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{stratum}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def permuted_block(rng: random.Random, block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES) -> list[str]:
    """One balanced block in random order (1:1 between the two arms)."""
    size = rng.choice(block_sizes)
    block = [ARMS[0]] * (size // 2) + [ARMS[1]] * (size // 2)
    rng.shuffle(block)
    return block


def stratum_entries(seed: str, stratum: str, count: int,
                    block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES) -> list[Entry]:
    rng = stratum_rng(seed, stratum)
    entries: list[Entry] = []
    block_no = 0
    while len(entries) < count:
        block_no += 1
        arms = permuted_block(rng, block_sizes)
        for arm in arms:
            entries.append(Entry(stratum, len(entries) + 1, block_no, len(arms), arm))
    return entries


def generate(seed: str, site_codes: Iterable[str], entries_per_stratum: int,
             block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES,
             circulations: Iterable[str] = CIRCULATIONS) -> list[Entry]:
    """The whole list, strata in sorted order (steps 1–3 of the module docstring)."""
    if not seed:
        raise ValueError("A seed is required to generate an allocation list.")
    if entries_per_stratum < 1:
        raise ValueError("Entries per stratum must be at least 1.")
    if any(size < 2 or size % 2 for size in block_sizes):
        raise ValueError("Block sizes must be even (1:1 allocation), e.g. 2 and 4.")
    strata = sorted(stratum_of(code, circ) for code in set(site_codes) for circ in circulations)
    out: list[Entry] = []
    for stratum in strata:
        out.extend(stratum_entries(seed, stratum, entries_per_stratum, block_sizes))
    return out


def to_csv(entries: Iterable[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for e in sorted(entries, key=lambda e: (e.stratum, e.sequence)):
        writer.writerow(neutralise_row((e.stratum, e.sequence, e.block, e.block_size, e.arm)))
    return buffer.getvalue()


def fingerprint(entries: Iterable[Entry]) -> str:
    return hashlib.sha256(to_csv(entries).encode()).hexdigest()


class ListFormatError(ValueError):
    """An imported list does not follow the format; the message names the line and rule."""


def parse_csv(text: str) -> list[Entry]:
    """Read an imported list (the format `to_csv` writes; `block_size` may be omitted).

    Rules: known columns; stratum `NNN-anterior|posterior`; arm STENTING or CONTINUED_MT;
    sequence 1, 2, 3… without gaps or repeats within each stratum; every block balanced.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    required = {"stratum", "sequence", "block", "arm"}
    if not required <= set(columns):
        missing = ", ".join(sorted(required - set(columns)))
        raise ListFormatError(f"The CSV header must contain stratum, sequence, block and arm; missing: {missing}.")
    rows: list[Entry] = []
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        stratum = row["stratum"]
        if not STRATUM_RE.match(stratum):
            raise ListFormatError(f"Line {line_no}: stratum must look like 001-anterior or 001-posterior, found {stratum!r}.")
        arm = row["arm"]
        if arm not in ARMS:
            raise ListFormatError(f"Line {line_no}: arm must be STENTING or CONTINUED_MT, found {arm!r}.")
        try:
            sequence, block = int(row["sequence"]), int(row["block"])
            block_size = int(row["block_size"]) if row.get("block_size") else 0
        except ValueError:
            raise ListFormatError(f"Line {line_no}: sequence, block and block_size must be whole numbers.") from None
        rows.append(Entry(stratum, sequence, block, block_size, arm))
    if not rows:
        raise ListFormatError("The CSV holds no entries.")
    by_stratum: dict[str, list[Entry]] = {}
    for e in rows:
        by_stratum.setdefault(e.stratum, []).append(e)
    out: list[Entry] = []
    for stratum, entries in sorted(by_stratum.items()):
        entries.sort(key=lambda e: e.sequence)
        expected = list(range(1, len(entries) + 1))
        if [e.sequence for e in entries] != expected:
            raise ListFormatError(f"Stratum {stratum}: sequence must run 1, 2, 3… without gaps or repeats.")
        blocks: dict[int, list[Entry]] = {}
        for e in entries:
            blocks.setdefault(e.block, []).append(e)
        for block_no, members in blocks.items():
            arms = [m.arm for m in members]
            if arms.count(ARMS[0]) != arms.count(ARMS[1]):
                raise ListFormatError(f"Stratum {stratum}, block {block_no}: a block must hold as many STENTING as CONTINUED_MT entries.")
            size = len(members)
            for m in members:
                if m.block_size and m.block_size != size:
                    raise ListFormatError(f"Stratum {stratum}, block {block_no}: block_size says {m.block_size} but the block has {size} entries.")
                out.append(Entry(m.stratum, m.sequence, m.block, size, m.arm))
    out.sort(key=lambda e: (e.stratum, e.sequence))
    return out


def iter_blocks(entries: Iterable[Entry]) -> Iterator[tuple[str, int, list[str]]]:
    """(stratum, block number, arms) for every block, in list order."""
    current: tuple[str, int] | None = None
    arms: list[str] = []
    for e in sorted(entries, key=lambda e: (e.stratum, e.sequence)):
        key = (e.stratum, e.block)
        if key != current and current is not None:
            yield current[0], current[1], arms
            arms = []
        current = key
        arms.append(e.arm)
    if current is not None:
        yield current[0], current[1], arms
