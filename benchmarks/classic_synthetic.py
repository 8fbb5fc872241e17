"""Every classical estimator on every planted structure: recovery of the truth and test error.

Run:  python benchmarks/classic_synthetic.py [--seeds N]

Data: :func:`multitask.data.synthetic_structures.make_structured_regression` with its defaults (10 tasks,
40 features, 20 training rows per task, noise 0.5), for each structure and seed; its 200 test rows per
task are cut in half: the first 100 pick each estimator's strength from a small grid (validation mean
squared error), the last 100 give the reported test MSE. Cells: the true relative coefficient error
``‖Ŵ − W‖_F / ‖W‖_F`` (for ``outlier_tasks``: on the regular tasks only), its structure score
(:func:`~multitask.data.synthetic_structures.recovery`: support precision, top-rank energy, cluster ARI,
graph roughness) and the test MSE, averaged over the seeds. ``ridge`` is independent per-task
scikit-learn ``Ridge``. SRMTL gets the true task graph where there is one (``graph``), else its default
mean-regularised structure; CMTL gets ``k = 3`` clusters.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge

from multitask import classic
from multitask.data.synthetic_structures import STRUCTURES, make_structured_regression, recovery

#: estimator -> (class name, strength grid as keyword dicts)
GRIDS: dict[str, tuple[str | None, list[dict[str, float]]]] = {
    "ridge": (None, [{"alpha": a} for a in (0.1, 1.0, 10.0, 100.0)]),
    "L21": ("L21Regressor", [{"rho1": v} for v in (1.0, 3.0, 10.0)]),
    "Trace": ("TraceRegressor", [{"rho1": v} for v in (1.0, 3.0, 10.0)]),
    "Dirty": ("DirtyRegressor", [{"lambda1": v, "lambda2": v / 10} for v in (3.0, 10.0, 30.0)]),
    "CMTL": ("CMTLRegressor", [{"rho1": v, "rho2": 0.1, "k": 3} for v in (1.0, 10.0, 100.0)]),
    "SRMTL": ("SRMTLRegressor", [{"rho1": v, "rho2": 0.01} for v in (1.0, 10.0, 30.0)]),
    "RMTL": ("RMTLRegressor", [{"rho1": v, "rho2": v} for v in (3.0, 10.0, 30.0)]),
    "rMTFL": ("RMTFLRegressor", [{"lambda1": v, "lambda2": 3 * v} for v in (3.0, 10.0, 30.0)]),
}
STRUCTURE_SCORE = {"sparse": "support_precision", "low_rank": "rank_energy", "dirty": "support_precision",
                   "clusters": "cluster_ari", "graph": "graph_roughness", "outlier_tasks": "rank_energy"}


def fit_coef(name: str, kw: dict[str, Any], X: np.ndarray, y: np.ndarray, task: np.ndarray,
             T: int) -> tuple[np.ndarray, np.ndarray]:
    cls, _ = GRIDS[name]
    if cls is None:
        models = [Ridge(**kw).fit(X[task == t], y[task == t]) for t in range(T)]
        return np.stack([m.coef_ for m in models]), np.array([m.intercept_ for m in models])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = getattr(classic, cls)(**kw).fit(X, y, task=task)
    return est.coef_, est.intercept_


def mse(coef: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, task: np.ndarray) -> float:
    return float(np.mean(((X * coef[task]).sum(1) + b[task] - y) ** 2))


def run(seeds: int) -> dict[tuple[str, str], dict[str, float]]:
    cells: dict[tuple[str, str], list[dict[str, float]]] = {}
    for structure in STRUCTURES:
        for seed in range(seeds):
            d = make_structured_regression(structure, seed=seed)
            T = d["W"].shape[0]
            val = np.arange(d["y_test"].size) % 200 < 100  # rows are grouped by task, 200 per task
            Xv, yv, tv = d["X_test"][val], d["y_test"][val], d["task_test"][val]
            Xt, yt, tt = d["X_test"][~val], d["y_test"][~val], d["task_test"][~val]
            for name, (_, grid) in GRIDS.items():
                best = None
                for kw in grid:
                    if name == "SRMTL" and "graph" in d:
                        kw = {**kw, "graph": d["graph"]}
                    coef, b = fit_coef(name, kw, d["X_train"], d["y_train"], d["task_train"], T)
                    score = mse(coef, b, Xv, yv, tv)
                    if best is None or score < best[0]:
                        best = (score, coef, b)
                _, coef, b = best
                rec = recovery(d, coef)
                err = rec.get("rel_error_regular", rec["rel_error"])
                cells.setdefault((structure, name), []).append(
                    {"err": err, "score": rec[STRUCTURE_SCORE[structure]], "mse": mse(coef, b, Xt, yt, tt)})
    return {k: {m: float(np.mean([v[m] for v in vs])) for m in vs[0]} for k, vs in cells.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    table = run(args.seeds)
    names = list(GRIDS)
    print(f"relative coefficient error / structure score / test MSE, mean over {args.seeds} seeds")
    print("| structure (score) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for structure in STRUCTURES:
        row = [f"{table[structure, n]['err']:.2f} / {table[structure, n]['score']:.2f} / "
               f"{table[structure, n]['mse']:.2f}" for n in names]
        print(f"| {structure} ({STRUCTURE_SCORE[structure]}) | " + " | ".join(row) + " |")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
