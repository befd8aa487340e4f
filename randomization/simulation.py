"""Operating characteristics of the two methods by simulation — pure Python, no ORM.

For each run: `subjects` patients arrive at `sites` sites (site drawn with weights that vary
between sites, as recruitment does), with circulation posterior in 20 %, NIHSS ≥ 16 in 45 % and
age ≥ 70 in 40 %; each is allocated by stratified permuted blocks (sizes 2 and 4, a fresh
block sequence per stratum and run) or by Pocock–Simon minimisation (p = 0.8). Imbalance is
|n(STENTING) − n(CONTINUED_MT)|, reported overall (one value per run), per site and per stratum
(one value per site/stratum that enrolled anyone, per run).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from randomization import blocks, minimisation

P_POSTERIOR = 0.20
P_NIHSS_16 = 0.45
P_AGE_70 = 0.40


@dataclass
class Result:
    method: str
    runs: int
    subjects: int
    sites: int
    overall: list[int] = field(default_factory=list)
    per_site: list[int] = field(default_factory=list)
    per_stratum: list[int] = field(default_factory=list)
    stenting_share: list[float] = field(default_factory=list)


def _patients(rng: random.Random, subjects: int, sites: int) -> list[dict[str, str]]:
    codes = [f"{i + 1:03d}" for i in range(sites)]
    weights = [rng.uniform(0.3, 3.0) for _ in codes]
    out = []
    for code in rng.choices(codes, weights=weights, k=subjects):
        out.append(minimisation.factor_levels(
            site=code,
            circulation="posterior" if rng.random() < P_POSTERIOR else "anterior",
            nihss=16 if rng.random() < P_NIHSS_16 else 10,
            age=75 if rng.random() < P_AGE_70 else 60,
        ))
    return out


def simulate(method: str, subjects: int = 312, sites: int = 30, runs: int = 1000, seed: int = 20260101,
             p: float = minimisation.DEFAULT_P, progress: Callable[[int], None] | None = None) -> Result:
    """`progress(runs done)` is called about a hundred times over the simulation (the page's
    progress bar) and once at the end."""
    if method not in ("blocks", "minimisation"):
        raise ValueError("method must be 'blocks' or 'minimisation'")
    rng = random.Random(seed)
    result = Result(method, runs, subjects, sites)
    arm_a = blocks.ARMS[0]
    every = max(1, -(-runs // 100))  # at most ~100 reports
    for done in range(runs):
        if progress is not None and done % every == 0:
            progress(done)
        patients = _patients(rng, subjects, sites)
        by_site: dict[str, Counter] = {}
        by_stratum: dict[str, Counter] = {}
        total: Counter = Counter()
        queues: dict[str, list[str]] = {}
        tally = minimisation.Tally()
        for levels in patients:
            stratum = blocks.stratum_of(levels["site"], levels["circulation"])
            if method == "blocks":
                queue = queues.setdefault(stratum, [])
                if not queue:
                    queue.extend(reversed(blocks.permuted_block(rng)))
                arm = queue.pop()
            else:
                arm = minimisation.choose(tally.for_patient(levels), rng, p).arm
                tally.add(levels, arm)
            total[arm] += 1
            by_site.setdefault(levels["site"], Counter())[arm] += 1
            by_stratum.setdefault(stratum, Counter())[arm] += 1
        a, b = blocks.ARMS
        result.overall.append(abs(total[a] - total[b]))
        result.per_site.extend(abs(c[a] - c[b]) for c in by_site.values())
        result.per_stratum.extend(abs(c[a] - c[b]) for c in by_stratum.values())
        result.stenting_share.append(total[arm_a] / subjects)
    if progress is not None:
        progress(runs)
    return result


HISTOGRAM_CAP = 10  # imbalances of 10 or more share the last bar


def _quantile(ordered: list, frac: float):
    return ordered[min(len(ordered) - 1, int(frac * len(ordered)))]


def distribution(values: list[int], cap: int = HISTOGRAM_CAP) -> dict:
    """Mean, median, p95, p99, max and the share of each imbalance 0…cap (cap = "cap or more")."""
    ordered = sorted(values)
    n = len(ordered)
    counts = Counter(min(v, cap) for v in ordered)
    return {
        "n": n, "mean": round(statistics.fmean(ordered), 3) if n else 0.0,
        "median": _quantile(ordered, 0.5) if n else 0, "p95": _quantile(ordered, 0.95) if n else 0,
        "p99": _quantile(ordered, 0.99) if n else 0, "max": ordered[-1] if n else 0,
        "histogram": [{"value": v, "share": round(counts.get(v, 0) / n, 5) if n else 0.0}
                      for v in range(cap + 1)],
    }


def summarize(result: Result) -> dict:
    """The result as plain data (stored as JSON for the statistician's simulation page)."""
    share = sorted(result.stenting_share)
    return {
        "method": result.method, "runs": result.runs, "subjects": result.subjects, "sites": result.sites,
        "overall": distribution(result.overall), "per_site": distribution(result.per_site),
        "per_stratum": distribution(result.per_stratum),
        "share_low": round(_quantile(share, 0.025), 4), "share_high": round(_quantile(share, 0.975), 4),
        "runs_over_10": sum(1 for v in result.overall if v > 10),
    }


def _describe(values: list[int]) -> str:
    ordered = sorted(values)
    n = len(ordered)

    def q(frac: float) -> int:
        return ordered[min(n - 1, int(frac * n))]

    return (f"mean {statistics.fmean(ordered):5.2f}  median {q(0.5):3d}  p95 {q(0.95):3d}  "
            f"p99 {q(0.99):3d}  max {ordered[-1]:3d}")


def _histogram(values: list[int], cap: int = 10) -> str:
    counts = Counter(min(v, cap) for v in values)
    n = len(values)
    parts = []
    for v in range(0, cap + 1):
        if counts.get(v):
            label = f"≥{cap}" if v == cap else str(v)
            parts.append(f"{label}: {100 * counts[v] / n:.1f}%")
    return "  ".join(parts)


def report(result: Result) -> list[str]:
    lines = [
        f"Method: {result.method}; {result.runs} runs of {result.subjects} subjects over {result.sites} sites "
        "(strata site × circulation); imbalance = |STENTING − CONTINUED_MT|",
    ]
    for title, values in (("overall", result.overall), ("per site", result.per_site),
                          ("per stratum", result.per_stratum)):
        lines.append(f"  {title:<12} {_describe(values)}  (n={len(values)})")
        lines.append(f"  {'':<12} {_histogram(values)}")
    share = sorted(result.stenting_share)
    lines.append(f"  share STENTING overall: 2.5%–97.5% range {share[int(0.025 * len(share))]:.3f}–"
                 f"{share[min(len(share) - 1, int(0.975 * len(share)))]:.3f}")
    over = sum(1 for v in result.overall if v > 10)
    lines.append(f"  runs with overall imbalance > 10: {over} of {result.runs}")
    return lines


# Bounds of the statistician's simulation page (randomization.forms.SimulationForm and
# services.simulation_start): large enough for any design of this trial, small enough that one
# simulation occupies the worker for about a minute at most.
LIMITS = {"subjects": (20, 5000), "sites": (1, 300), "runs": (10, 10000), "seed": (0, 2**31 - 1)}
P_RANGE = (0.5, 1.0)
MAX_WORK = 3_000_000  # simulated allocations per simulation: subjects × runs × methods
