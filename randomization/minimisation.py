"""Pocock–Simon minimisation (SPEC §5, the second method) — pure Python, no ORM.

Factors: site, circulation, NIHSS band (6–15 / ≥16), age band (<70 / ≥70), equal weights,
imbalance measured by the range (max − min) of arm counts. For a new patient:

1. For each arm, add the patient hypothetically to that arm and sum, over the patient's four
   factor levels, the range of the arm counts at that level.
2. The arm with the smaller total is preferred. On a tie, each arm has probability ½.
3. Otherwise the preferred arm is given with probability `p` (the random element, 0.8 by
   default) and the other arm with 1 − p, so the next allocation is never fully predictable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from randomization.blocks import ARMS

FACTORS = ("site", "circulation", "nihss_band", "age_band")
DEFAULT_P = 0.8


def nihss_band(nihss: int | None) -> str:
    return "16+" if nihss is not None and nihss >= 16 else "6-15"


def age_band(age: int | None) -> str:
    return "70+" if age is not None and age >= 70 else "<70"


def factor_levels(*, site: str, circulation: str, nihss: int | None, age: int | None) -> dict[str, str]:
    return {"site": site, "circulation": circulation, "nihss_band": nihss_band(nihss),
            "age_band": age_band(age)}


@dataclass(frozen=True)
class Choice:
    arm: str
    preferred: str | None  # None on a tie
    scores: dict[str, int]  # total imbalance if the patient went to each arm
    draw: float  # the uniform random number used


def choose(counts: Mapping[str, Mapping[str, int]], rng: random.Random | random.SystemRandom,
           p: float = DEFAULT_P) -> Choice:
    """`counts[factor][arm]`: how many earlier patients sharing this patient's level of the
    factor are in each arm. Returns the arm for the new patient (steps 1–3)."""
    scores: dict[str, int] = {}
    for candidate in ARMS:
        total = 0
        for factor in FACTORS:
            level = counts.get(factor, {})
            values = [level.get(arm, 0) + (1 if arm == candidate else 0) for arm in ARMS]
            total += max(values) - min(values)
        scores[candidate] = total
    draw = rng.random()
    if scores[ARMS[0]] == scores[ARMS[1]]:
        return Choice(ARMS[0] if draw < 0.5 else ARMS[1], None, scores, draw)
    preferred = min(ARMS, key=lambda a: scores[a])
    other = ARMS[1] if preferred == ARMS[0] else ARMS[0]
    return Choice(preferred if draw < p else other, preferred, scores, draw)


class Tally:
    """Arm counts per factor level, updated as patients are allocated (used by simulation)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], dict[str, int]] = {}

    def for_patient(self, levels: Mapping[str, str]) -> dict[str, dict[str, int]]:
        return {f: self.counts.get((f, levels[f]), {}) for f in FACTORS}

    def add(self, levels: Mapping[str, str], arm: str) -> None:
        for f in FACTORS:
            level = self.counts.setdefault((f, levels[f]), {a: 0 for a in ARMS})
            level[arm] += 1
