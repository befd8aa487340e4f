"""Declared variable metadata of the data dictionary (owned by exports.dictionary).

Everything a format needs about a variable beyond what the model field itself states is
declared here, once, and read by every format (CSV dictionary, ODM, XPT, DTA, SAV,
Dataset-JSON, Define-XML):

- units (never parsed from a label or a help text);
- full ranges (both limits) of the values the forms accept, read from the protocol modules
  where they live (core.protocol, followup.nihss) or from the field's validators;
- a real code for every coded "none" (a choice stored as "" gets a declared code);
- SAS names: dataset names and variable names of at most 8 characters, pinned in
  exports/short_names.py so the same variable always has the same name;
- byte widths of character variables (fixed, never taken from the data);
- labels cut to 40 bytes at a word (the full label stays in the dictionary and Define-XML);
- the one time convention (TIME_CONVENTION), written into every README and the dictionary.
"""

from __future__ import annotations

import re
from decimal import Decimal

TIME_CONVENTION = (
    "Time convention: instants (variables of type datetime) are UTC, ISO 8601 with whole "
    "seconds and a trailing Z (2026-05-01T08:30:00Z) in every format; SAS/Stata/SPSS hold the "
    "same UTC instant without a zone. Dates (type date) are the site's local calendar date; "
    "the site's IANA time zone is the column site_tz of every table."
)

# --- units ---------------------------------------------------------------------------------
# (table code, variable) → unit. Tables are CRF codes, "ANALYSIS" and "RANDOMIZATION".
UNITS: dict[tuple[str, str], str] = {
    ("SCREENING", "age_years"): "years",
    ("SCREENING", "platelets"): "×10⁹/L",
    ("SCREENING", "aptt"): "s",
    ("SCREENING", "gfr"): "mL/min",
    ("V1_PROCEDURE", "balloon_diameter_mm"): "mm",
    ("V1_PROCEDURE", "balloon_pressure_atm"): "atm",
    ("V1_PROCEDURE", "stent_diameter_mm"): "mm",
    ("V1_PROCEDURE", "stent_length_mm"): "mm",
    ("V5_DAY90", "study_day"): "days",
    ("ANALYSIS", "baseline_age_years"): "years",
}
# The unit of these variables is another variable of the same row (stated in the dictionary).
UNIT_IN_VARIABLE: dict[tuple[str, str], str] = {
    ("SCREENING", "creatinine"): "creatinine_unit",
    ("ANALYSIS", "baseline_creatinine"): "baseline_creatinine_unit",
}


def declared_unit(table: str, name: str, registry_units: dict | None = None) -> str:
    """The declared unit of a variable; a CRF may also declare units in its registry entry
    (`CRF(extra={"units": {field: unit}})`)."""
    if (table, name) in UNITS:
        return UNITS[(table, name)]
    if registry_units and name in registry_units:
        return registry_units[name]
    return ""


# --- ranges --------------------------------------------------------------------------------
def _protocol_ranges() -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    from core import protocol as P

    out: dict[tuple[str, str], tuple] = {}
    for name, rng in P.RANGES.items():
        out[("SCREENING", name)] = (rng.low, rng.high)
    creat = getattr(P, "CREATININE_RANGES", {})
    if creat:
        out[("SCREENING", "creatinine")] = (min(r.low for r in creat.values()),
                                            max(r.high for r in creat.values()))
    total = (0, P.NIHSS_MAX_TOTAL)
    for table, name in (("V2_24H", "nihss_total"), ("V4_DAY7", "nihss_total"),
                        ("V3_48H", "before_total"), ("V3_48H", "worse_total")):
        out[(table, name)] = total
    for (table, name), rng in list(out.items()):
        if table == "SCREENING":
            out[("ANALYSIS", f"baseline_{name}")] = rng
    return out


_RANGES: dict | None = None


def declared_range(table: str, name: str) -> tuple | None:
    global _RANGES
    if _RANGES is None:
        _RANGES = _protocol_ranges()
    return _RANGES.get((table, name))


# --- codes ---------------------------------------------------------------------------------
# A choice stored as "" that means an answer ("None") gets a real code in every export, so it
# is told apart from a missing value.
NONE_CODES: dict[tuple[str, str], dict[object, str]] = {
    ("V3_48H", "major_intervention"): {"": "none"},
}


def declared_choices(table: str, name: str, choices: tuple) -> tuple:
    remap = NONE_CODES.get((table, name), {})
    return tuple((remap.get(code, code), label) for code, label in choices)


def export_value_map(table: str, name: str) -> dict:
    """Stored value → exported value for the declared codes of a variable."""
    return NONE_CODES.get((table, name), {})


# --- SAS names -----------------------------------------------------------------------------
DATASET_NAMES: dict[str, str] = {
    "SCREENING": "SCREEN", "V1_PROCEDURE": "V1PROC", "V1_PASS": "V1PASS", "V2_24H": "V2_24H",
    "V3_48H": "V3_48H", "V4_DAY7": "V4DAY7", "V5_DAY90": "V5DAY90", "AE": "AE",
    "DEATH": "DEATH", "DEVIATION": "DEVIATN", "EXIT": "EXIT", "ANALYSIS": "ANALYSIS",
    "RANDOMIZATION": "RANDOM", "FORMATS": "FORMATS",
}
SAS_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")


def abbreviate(name: str, limit: int = 8) -> str:
    """A SAS name of at most `limit` characters for `name` (first letters and consonants of
    each word, the longest words shortened first)."""
    up = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    if SAS_NAME.match(up) and len(up) <= limit:
        return up
    words = [w for w in up.split("_") if w] or ["X"]
    parts = [w if w.isdigit() or len(w) <= 2 else w[0] + re.sub(r"[AEIOU]", "", w[1:])
             for w in words]
    if len(parts) > limit:
        parts = parts[: limit - 1] + parts[-1:]
    while sum(len(p) for p in parts) > limit:
        i = max(range(len(parts)), key=lambda k: (len(parts[k]), k))
        parts[i] = parts[i][:-1]
        parts = [p for p in parts if p]
    out = "".join(parts)
    if out[0].isdigit():
        out = ("X" + out)[:limit]
    return out


def unique_name(base: str, taken: set[str], limit: int = 8) -> str:
    if base not in taken:
        return base
    n = 2
    while True:
        candidate = f"{base[: limit - len(str(n))]}{n}"
        if candidate not in taken:
            return candidate
        n += 1


def dataset_name(table: str) -> str:
    return DATASET_NAMES.get(table) or abbreviate(table)


def segment_names(short: str, segments: int) -> list[str]:
    """The variable names of a character variable split into `segments` pieces of 200 bytes:
    SHORT, SHORT1, SHORT2… (the base is at most 7 characters when it is split)."""
    return [short] + [f"{short[: 8 - len(str(k))]}{k}" for k in range(1, segments)]


def short_names(table: str, columns) -> dict[str, list[str]]:
    """Variable → its SAS name(s) (several when a character variable is split), for the
    columns of one table: the pinned names of exports/short_names.py, new variables named
    by abbreviate() around them. Unique within the table; independent of the data."""
    from exports.short_names import COMMON_SHORT_NAMES, SHORT_NAMES

    pinned = {**COMMON_SHORT_NAMES, **SHORT_NAMES.get(table, {})}
    taken: set[str] = set()
    out: dict[str, list[str]] = {}
    for c in columns:
        if c.name in pinned:
            segs = segment_names(pinned[c.name], xpt_segments(c))
            out[c.name] = segs
            taken.update(segs)
    for c in columns:
        if c.name in out:
            continue
        segments = xpt_segments(c)
        limit = 7 if segments > 1 else 8
        base = unique_name(abbreviate(c.name, limit), taken, limit)
        while any(s in taken for s in segment_names(base, segments)):
            base = unique_name(base[:-1] + "0", taken | {base}, limit)
        segs = segment_names(base, segments)
        out[c.name] = segs
        taken.update(segs)
    return out


# --- character widths ----------------------------------------------------------------------
SAS_CHAR_LIMIT = 200  # bytes in a SAS V5 character variable
# Free text (TextField, JSON) without a declared length: this many bytes in fixed-width
# formats (XPT: five 200-byte variables). Longer text is cut there — and counted in the
# README — while CSV, ODM and Dataset-JSON keep it whole.
FREE_TEXT_BYTES = 1000
KEY_WIDTHS = {"subject_number": 20, "site": 10, "site_tz": 64, "visit": 8}


def text_bytes(c) -> int:
    """Fixed byte width of a character variable (UTF-8: three bytes a character of a
    declared length, Chinese included)."""
    if c.width:
        return c.width
    return KEY_WIDTHS.get(c.name, FREE_TEXT_BYTES)


def xpt_segments(c) -> int:
    from exports.formats.stat_coding import is_numeric

    if is_numeric(c) or c.kind in ("date", "datetime", "time"):
        return 1
    return max(1, -(-text_bytes(c) // SAS_CHAR_LIMIT))


# --- labels --------------------------------------------------------------------------------
def cut_label(text: str, limit: int = 40) -> str:
    """`text` in at most `limit` UTF-8 bytes, cut at a word boundary (never mid-character)."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    head = raw[:limit].decode("utf-8", errors="ignore")
    if raw[limit:limit + 1] == b" ":
        return head.rstrip()
    space = head.rfind(" ")
    if space >= limit // 3:
        head = head[:space]
    return head.rstrip(" ,;:(–-")
