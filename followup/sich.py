"""Symptomatic intracranial haemorrhage (safety endpoint, SCALES.md), derived from the raw
components stored on the 48-hour CRF, by three definitions:

- Heidelberg (primary): a new ICH AND (NIHSS total up >= 4 vs. immediately before the
  worsening, OR up >= 2 in one item, OR a major intervention: intubation, hemicraniectomy,
  external ventricular drain, other) AND no alternative explanation for the worsening.
- ECASS III: any ICH AND (NIHSS up >= 4 from baseline or from the lowest value in the first
  7 days, OR death) AND the ICH judged the predominant cause of the worsening.
- SITS-MOST: PH2 (local or remote) on imaging at 22–36 h after T0 (or earlier at the
  worsening) AND (NIHSS up >= 4 from baseline or from the lowest value up to 24 h, OR death).

Pure: no database. Three-valued: True, False, or None when a component needed to decide is
missing (the CRF then says which one). Every result carries its reasoning in plain words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

HEIDELBERG_CLASSES = ("1a", "1b", "1c", "2", "3a", "3b", "3c", "3d")
ECASS_TYPES = ("HI1", "HI2", "PH1", "PH2", "rPH1", "rPH2")
MAJOR_INTERVENTIONS = ("intubation", "hemicraniectomy", "evd", "other")

HEIDELBERG = "heidelberg"
ECASS3 = "ecass3"
SITS_MOST = "sits_most"
DEFINITIONS = (HEIDELBERG, ECASS3, SITS_MOST)
LABELS = {HEIDELBERG: "Heidelberg (primary)", ECASS3: "ECASS III", SITS_MOST: "SITS-MOST"}


@dataclass(frozen=True)
class SICHInput:
    new_ich: bool | None = None
    heidelberg_classes: frozenset[str] = frozenset()
    ecass_types: frozenset[str] = frozenset()
    nihss_baseline: int | None = None
    nihss_before_worsening: int | None = None
    nihss_at_worsening: int | None = None
    item_changes: Mapping[str, int] = field(default_factory=dict)  # at - before, per item
    nihss_lowest_7d: int | None = None
    nihss_lowest_24h: int | None = None
    major_intervention: str = ""  # one of MAJOR_INTERVENTIONS, or "" for none
    alternative_explanation: bool | None = None
    died: bool = False
    ich_predominant_cause: bool | None = None
    imaging_hours_after_t0: float | None = None
    imaging_at_worsening: bool = False


@dataclass(frozen=True)
class Derivation:
    definition: str
    sich: bool | None
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return LABELS[self.definition]

    @property
    def text(self) -> str:
        verdict = {True: "sICH", False: "no sICH", None: "undetermined"}[self.sich]
        return f"{self.label}: {verdict} — " + "; ".join(self.reasons)


def _and(*values: bool | None) -> bool | None:
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def _or(*values: bool | None) -> bool | None:
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


def _rise(worse: int | None, reference: int | None) -> int | None:
    if worse is None or reference is None:
        return None
    return worse - reference


def _any_ich(d: SICHInput) -> bool | None:
    if d.heidelberg_classes or d.ecass_types:
        return True
    return d.new_ich


def heidelberg(d: SICHInput) -> Derivation:
    reasons = []
    ich = _any_ich(d) if d.new_ich is None else d.new_ich
    reasons.append({True: "new ICH on imaging", False: "no new ICH",
                    None: "new ICH not recorded"}[ich])
    rise = _rise(d.nihss_at_worsening, d.nihss_before_worsening)
    total_up = None if rise is None else rise >= 4
    if rise is not None:
        reasons.append(f"NIHSS {d.nihss_before_worsening} → {d.nihss_at_worsening} "
                       f"({rise:+d}; ≥ 4 needed)")
    else:
        reasons.append("NIHSS before/at worsening not recorded")
    item_up_names = sorted(k for k, v in d.item_changes.items() if v >= 2)
    item_up = bool(item_up_names) if d.item_changes else None
    if item_up_names:
        reasons.append("item(s) up ≥ 2: " + ", ".join(item_up_names))
    intervention = bool(d.major_intervention)
    if intervention:
        reasons.append(f"major intervention: {d.major_intervention}")
    worsening = _or(total_up, item_up, intervention)
    if worsening is False:
        reasons.append("no qualifying neurological worsening")
    no_alt = None if d.alternative_explanation is None else not d.alternative_explanation
    reasons.append({True: "no alternative explanation", False: "alternative explanation exists",
                    None: "alternative explanation not recorded"}[no_alt])
    return Derivation(HEIDELBERG, _and(ich, worsening, no_alt), tuple(reasons))


def ecass3(d: SICHInput) -> Derivation:
    reasons = []
    ich = _any_ich(d)
    reasons.append({True: "ICH present", False: "no ICH", None: "ICH not recorded"}[ich])
    from_base = _rise(d.nihss_at_worsening, d.nihss_baseline)
    from_low = _rise(d.nihss_at_worsening, d.nihss_lowest_7d)
    ups = []
    for name, rise in (("baseline", from_base), ("lowest in 7 days", from_low)):
        if rise is not None:
            reasons.append(f"NIHSS {rise:+d} from {name}")
            ups.append(rise >= 4)
    if not ups:
        reasons.append("NIHSS rise not computable")
    worsening = _or(*ups, d.died) if ups else (True if d.died else None)
    if d.died:
        reasons.append("death")
    cause = d.ich_predominant_cause
    reasons.append({True: "ICH judged the predominant cause",
                    False: "ICH not judged the predominant cause",
                    None: "predominant cause not judged"}[cause])
    return Derivation(ECASS3, _and(ich, worsening, cause), tuple(reasons))


def sits_most(d: SICHInput) -> Derivation:
    reasons = []
    ph2 = bool({"PH2", "rPH2"} & set(d.ecass_types))
    if not d.ecass_types and d.new_ich is None:
        ph2_known: bool | None = None
        reasons.append("haemorrhage type not recorded")
    else:
        ph2_known = ph2
        reasons.append("PH2 (local or remote) present" if ph2 else "no PH2")
    hours = d.imaging_hours_after_t0
    if d.imaging_at_worsening:
        timing: bool | None = True
        reasons.append("imaging at the worsening")
    elif hours is None:
        timing = None
        reasons.append("imaging time not recorded")
    else:
        timing = 22 <= hours <= 36
        reasons.append(f"imaging at {hours:.1f} h ({'within' if timing else 'outside'} 22–36 h)")
    ups = []
    for name, ref in (("baseline", d.nihss_baseline), ("lowest up to 24 h", d.nihss_lowest_24h)):
        rise = _rise(d.nihss_at_worsening, ref)
        if rise is not None:
            reasons.append(f"NIHSS {rise:+d} from {name}")
            ups.append(rise >= 4)
    if d.died:
        reasons.append("death")
    worsening = _or(*ups, d.died) if ups else (True if d.died else None)
    if not ups and not d.died:
        reasons.append("NIHSS rise not computable")
    return Derivation(SITS_MOST, _and(ph2_known, timing, worsening), tuple(reasons))


def derive_all(d: SICHInput) -> dict[str, Derivation]:
    return {HEIDELBERG: heidelberg(d), ECASS3: ecass3(d), SITS_MOST: sits_most(d)}
