"""Group search: how often the greedy fallback finds the exact optimum, and exact-search times.

    PYTHONPATH=src python benchmarks/affinity_search.py

Random normal affinity matrices (fixed seed); for T ∈ {6, 8, 10}, k ∈ {2, 3, 4}, 6 matrices each, the
share of cases where ``method="greedy"`` (agglomerative start, local search, 16 restarts) reaches the
exact score, and the worst relative gap; then the wall time of one exact search at T = 12..15
(re-measure on a quiet machine).
"""

from __future__ import annotations

import time

import numpy as np

from multitask.affinity import select_groups


def main() -> None:
    rng = np.random.default_rng(0)
    print("| overlap | singleton | greedy optimal | worst gap |\n|---|---|---|---|")
    for overlap in (True, False):
        for singleton in ("zero", "tag"):
            hits, cases, worst = 0, 0, 0.0
            for t in (6, 8, 10):
                for k in (2, 3, 4):
                    for _ in range(6):
                        a = rng.normal(size=(t, t))
                        kw = {"overlap": overlap, "singleton": singleton}
                        exact = select_groups(a, k, method="exact", **kw).score
                        greedy = select_groups(a, k, method="greedy", **kw).score
                        cases += 1
                        hits += greedy >= exact - 1e-9
                        worst = max(worst, (exact - greedy) / abs(exact) if exact else 0.0)
            print(f"| {overlap} | {singleton} | {hits}/{cases} | {100 * worst:.1f} % |")
    print("\n| T | exact search, k = 3 (s) |\n|---|---|")
    for t in (12, 13, 14, 15):
        a = rng.normal(size=(t, t))
        t0 = time.perf_counter()
        select_groups(a, 3, method="exact")
        print(f"| {t} | {time.perf_counter() - t0:.2f} |")


if __name__ == "__main__":
    main()
