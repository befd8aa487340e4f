"""Agreement statistics — no ORM.

Cohen's κ for two raters over nominal categories, and weighted κ for ordinal scales (mRS,
ASPECTS) with linear or quadratic disagreement weights:

    1. build the k×k table of observed proportions p_ij (rater A's category i, rater B's j);
    2. expected proportions e_ij = row_i × column_j (chance agreement);
    3. weights w_ij = 0 on the diagonal, |i−j|/(k−1) (linear) or (|i−j|/(k−1))² (quadratic),
       and 1 off the diagonal for unweighted κ;
    4. κ = 1 − Σ w·p / Σ w·e.

κ is None when it is undefined (no pairs, or both raters used one category only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def kappa(pairs: Sequence[tuple], categories: Sequence, weights: str | None = None) -> float | None:
    if not pairs:
        return None
    k = len(categories)
    index = {c: i for i, c in enumerate(categories)}
    n = len(pairs)
    observed = [[0.0] * k for _ in range(k)]
    for a, b in pairs:
        observed[index[a]][index[b]] += 1 / n
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def w(i, j):
        if weights is None:
            return 0.0 if i == j else 1.0
        d = abs(i - j) / (k - 1)
        return d if weights == "linear" else d * d

    disagreement_observed = sum(w(i, j) * observed[i][j] for i in range(k) for j in range(k))
    disagreement_expected = sum(w(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k))
    if disagreement_expected == 0:
        return None
    return 1 - disagreement_observed / disagreement_expected


@dataclass(frozen=True)
class Scale:
    key: str
    categories: tuple
    weights: str | None


MRS = Scale("mrs", tuple(range(7)), "quadratic")
ASPECTS = Scale("aspects", tuple(range(11)), "quadratic")
PC_ASPECTS = Scale("pc_aspects", tuple(range(11)), "quadratic")
SICH = Scale("sich_heidelberg", (False, True), None)
