"""Does a method differ from equal weighting (EW) over seeds? A two-sided paired t-test.

Student, "The probable error of a mean", Biometrika 1908; for comparing learners on the same data,
Dietterich, "Approximate Statistical Tests for Comparing Supervised Classification Learning
Algorithms", Neural Computation 1998.

Runs of one seed share the initialisation and the data order, so a method's run and EW's run of the
same seed form a pair. For one column (a test metric or Δm) with per-seed values ``x_s`` (the method)
and ``y_s`` (EW, same architecture) over the ``n`` seeds where both finished, ``d_s = x_s - y_s``:

    t = mean(d) / (std(d, ddof=1) / sqrt(n)),    p = 2 · P(T_{n-1} > |t|)

(``scipy.stats.ttest_rel``). A cell is marked when ``p < ALPHA`` (0.05). No p-value with fewer than two
pairs, nor when every ``d_s`` is the same non-zero number (the variance is 0 and ``t`` undefined); all
``d_s = 0`` gives ``p = 1``. With 3 seeds the test has little power: no mark is no evidence of equality.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ALPHA = 0.05
MARK = "†"
TEST = (
    f"two-sided paired t-test over the seeds both finished (pairs: same seed; scipy.stats.ttest_rel), "
    f"p < {ALPHA:g}; needs ≥ 2 seeds"
)
DESCRIPTION = f"{MARK}: differs from EW of the same architecture, {TEST}"
NONE_MARKED = f"no value differs from EW of its architecture ({MARK}) by the test used: {TEST}"


def paired_p(values: dict[int, float], reference: dict[int, float]) -> float | None:
    """The two-sided paired t-test p-value of ``values`` vs ``reference`` (seed -> value), or None."""
    seeds = sorted(set(values) & set(reference))
    if len(seeds) < 2:
        return None
    x = np.array([values[s] for s in seeds], dtype=float)
    y = np.array([reference[s] for s in seeds], dtype=float)
    d = x - y
    if not np.isfinite(d).all():
        return None
    if np.all(d == 0):
        return 1.0
    if np.all(d == d[0]):
        return None
    return float(stats.ttest_rel(x, y).pvalue)
