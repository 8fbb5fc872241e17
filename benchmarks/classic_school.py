"""Classical multi-task regressors on School and SARCOS, against independent and pooled ridge.

Run:  python benchmarks/classic_school.py [--splits N] [--quick] [--jobs J]

School (Goldstein 1991; the ten standard splits of Argyriou, Evgeniou, Pontil, MLJ 2008): 139 schools
(tasks), 28 inputs (27 attributes + a constant), exam score target; per-task rows, ``fit(X, y, task=t)``.
For each split, every regressor of :mod:`multitask.classic` gets its regularisation strength from a small
grid by K-fold cross-validation *on the training part* (folds stratified by school, mean squared error),
is refitted on the whole training part and scored on the test part by the explained variance

    EV = 1 − MSE(y_test, ŷ) / Var(y_test)     (Var: the population variance of the pooled test targets)

reported as mean ± std over the splits. Baselines (scikit-learn ``Ridge``, α chosen the same way):
independent ridge (one model per school) and pooled ridge (one model for all schools).

SARCOS (Rasmussen & Williams 2006, the 4,449-row test file; ``multitask.data.tabular.load_sarcos``:
3000 train / 449 validation / 1000 test rows, 21 inputs, 7 joint torques as tasks; shared design
``fit(X, Y)``): inputs standardised with the training statistics, strength chosen on the validation
part, EV averaged over the 7 torques on the test part (mean ± std over ``load_sarcos`` seeds).

Strength grids: one scale s per estimator, mapped to its parameters by :func:`params_for` (the second
strength of two-penalty models is tied to s); s ∈ {10, 100, 1000} on School and {1, 10, ..., 10⁴} on
SARCOS; ``--quick``: {30, 300} / {10, 1000}, 2 folds, one SARCOS seed.

Also printed: the L21 solver's fit time divided by scikit-learn ``MultiTaskLasso``'s on SARCOS, both with
tol = 1e-4 (each with its own stopping rule: relative objective change here, duality gap there) and
``rho1 = n·alpha``, with each solution's relative objective gap to a tight reference solution.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per process: small matrices, parallel splits

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import MultiTaskLasso, Ridge  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import multitask.classic as classic  # noqa: E402
from multitask.classic.scoring import explained_variance  # noqa: E402
from multitask.data.tabular import load_sarcos, load_school  # noqa: E402

REGRESSORS = sorted(name for name in classic.__all__ if name.endswith("Regressor"))
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def params_for(name: str, s: float) -> dict:
    """Hyper-parameters of regressor ``name`` at strength scale ``s``."""
    table: dict[str, dict] = {
        "LassoRegressor": dict(rho1=s),
        "L21Regressor": dict(rho1=s),
        "TraceRegressor": dict(rho1=s),
        "DirtyRegressor": dict(lambda1=s, lambda2=s),
        "RMTFLRegressor": dict(lambda1=s, lambda2=s),
        "RMTLRegressor": dict(rho1=s, rho2=s),
        "SparseTraceRegressor": dict(rho1=s, rho2=100.0),
        "SRMTLRegressor": dict(rho1=s, rho2=s / 10),
        "CMTLRegressor": dict(rho1=s, rho2=s / 10, k=3),
        "CASORegressor": dict(rho1=s, rho2=s / 10, k=3),
        "TGLRegressor": dict(rho1=s / 10, rho2=s / 10, rho3=s),
        "CFGLassoRegressor": dict(rho1=s / 10, rho2=s / 10, rho3=s),
        "MSMTFLRegressor": dict(lambda1=2 * s, theta=50.0),
        "MTFLRegressor": dict(gamma=s / 100),
        "MTRLRegressor": dict(lambda1=s / 10, lambda2=s / 100),
    }
    if name not in table:
        raise ValueError(f"no strength grid for {name}: add it to params_for")
    return table[name]


class IndependentRidge:
    """One scikit-learn ``Ridge(alpha)`` per task (the single-task baseline)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray, task: np.ndarray) -> IndependentRidge:
        self.models_ = {t: Ridge(alpha=self.alpha).fit(X[task == t], y[task == t]) for t in np.unique(task)}
        return self

    def predict(self, X: np.ndarray, task: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0])
        for t in np.unique(task):
            out[task == t] = self.models_[t].predict(X[task == t])
        return out


class PooledRidge:
    """One scikit-learn ``Ridge(alpha)`` for all tasks together."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray, task: np.ndarray) -> PooledRidge:
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X: np.ndarray, task: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)


def school_models(grid: tuple[float, ...]) -> dict[str, tuple[Callable[[float], object], tuple[float, ...]]]:
    models: dict[str, tuple[Callable[[float], object], tuple[float, ...]]] = {
        "independent ridge (sklearn)": (IndependentRidge, RIDGE_ALPHAS),
        "pooled ridge (sklearn)": (PooledRidge, RIDGE_ALPHAS),
    }
    for name in REGRESSORS:
        cls = getattr(classic, name)
        models[name] = ((lambda s, cls=cls, name=name: cls(**params_for(name, s))), grid)
    return models


def _cv_select(
    make: Callable[[float], object], grid: tuple[float, ...], X, y, task, folds: int, seed: int
) -> float:
    if len(grid) == 1:
        return grid[0]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    errors = []
    for s in grid:
        err = 0.0
        for tr, va in splitter.split(X, task):
            model = make(s).fit(X[tr], y[tr], task=task[tr])
            err += float(np.sum((y[va] - model.predict(X[va], task=task[va])) ** 2))
        errors.append(err)
    return grid[int(np.argmin(errors))]


def run_school_split(split: int, grid: tuple[float, ...], folds: int) -> dict[str, tuple]:
    """{model: (test EV, chosen strength, seconds)} on one School split."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    data = load_school(split)
    X, y, t = data["X_train"], data["y_train"], data["task_train"]
    out = {}
    for name, (make, g) in school_models(grid).items():
        start = time.perf_counter()
        s = _cv_select(make, g, X, y, t, folds, seed=split)
        model = make(s).fit(X, y, task=t)
        ev = explained_variance(data["y_test"], model.predict(data["X_test"], task=data["task_test"]))
        out[name] = (ev, s, time.perf_counter() - start)
    return out


def run_sarcos(seed: int, grid: tuple[float, ...]) -> dict[str, tuple[float, float, float]]:
    """{model: (test EV averaged over torques, chosen strength, seconds)} on one SARCOS split."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    data = load_sarcos(seed=seed)
    scaler = StandardScaler().fit(data["X_train"])
    Xtr, Xva, Xte = (scaler.transform(data[k]) for k in ("X_train", "X_val", "X_test"))
    Ytr, Yva, Yte = data["Y_train"], data["Y_val"], data["Y_test"]

    def ev(Y: np.ndarray, P: np.ndarray) -> float:
        return float(np.mean([explained_variance(Y[:, j], P[:, j]) for j in range(Y.shape[1])]))

    makers: dict[str, tuple[Callable[[float], object], tuple[float, ...]]] = {
        "independent ridge (sklearn)": (lambda a: Ridge(alpha=a), RIDGE_ALPHAS),  # multi-output = per task
    }
    for name in REGRESSORS:
        cls = getattr(classic, name)
        makers[name] = ((lambda s, cls=cls, name=name: cls(**params_for(name, s))), grid)
    out = {}
    for name, (make, g) in makers.items():
        start = time.perf_counter()
        scores = [ev(Yva, make(s).fit(Xtr, Ytr).predict(Xva)) for s in g] if len(g) > 1 else [0.0]
        s = g[int(np.argmax(scores))]
        model = make(s).fit(Xtr, Ytr)
        out[name] = (ev(Yte, model.predict(Xte)), s, time.perf_counter() - start)
    return out


def l21_speed(repeats: int = 3, alpha: float = 0.1) -> dict[str, float]:
    """L21Regressor vs scikit-learn MultiTaskLasso on SARCOS (standardised inputs), tol = 1e-4 each."""
    data = load_sarcos(seed=0)
    X = StandardScaler().fit_transform(data["X_train"])
    Y = data["Y_train"]
    n = X.shape[0]

    def objective(W: np.ndarray, c: np.ndarray) -> float:  # ours: ½‖Y − XW − c‖² + n·alpha‖W‖₂,₁
        return float(0.5 * np.sum((Y - X @ W - c) ** 2) + n * alpha * np.sum(np.linalg.norm(W, axis=1)))

    def timed(make: Callable[[], object]) -> tuple[float, object]:
        times, model = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            model = make()
            times.append(time.perf_counter() - start)
        return float(np.median(times)), model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MultiTaskLasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, Y)
        t_ours, ours = timed(lambda: classic.L21Regressor(rho1=n * alpha, tol=1e-4).fit(X, Y))
        t_sk, sk = timed(lambda: MultiTaskLasso(alpha=alpha, tol=1e-4).fit(X, Y))
    f_ref = objective(ref.coef_.T, ref.intercept_)
    return {
        "ours_s": t_ours,
        "sklearn_s": t_sk,
        "ratio": t_ours / t_sk,
        "ours_gap": (objective(ours.coef_.T, ours.intercept_) - f_ref) / f_ref,
        "sklearn_gap": (objective(sk.coef_.T, sk.intercept_) - f_ref) / f_ref,
    }


def _table(title: str, results: list[dict[str, tuple[float, float, float]]], note: str) -> str:
    names = list(results[0])
    rows = []
    for name in names:
        evs = np.array([r[name][0] for r in results])
        chosen = sorted({r[name][1] for r in results})
        secs = np.mean([r[name][2] for r in results])
        rows.append(
            (
                float(evs.mean()),
                f"| {name} | {evs.mean():.4f} ± {evs.std():.4f} | "
                f"{', '.join(f'{c:g}' for c in chosen)} | {secs:.1f} |",
            )
        )
    rows.sort(key=lambda r: -r[0])
    header = "| model | test EV (mean ± std) | chosen strength(s) | s per split |"
    head = [f"### {title}", "", note, "", header, "|---|---|---|---|"]
    return "\n".join(head + [r[1] for r in rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10, help="number of School splits (1..10), default 10")
    parser.add_argument("--quick", action="store_true", help="2-value grids, 2 folds, one SARCOS seed")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes over splits, default 2")
    args = parser.parse_args(argv)
    if not 1 <= args.splits <= 10:
        parser.error("--splits must be between 1 and 10")
    school_grid = (30.0, 300.0) if args.quick else (10.0, 100.0, 1000.0)
    sarcos_grid = (10.0, 1000.0) if args.quick else (1.0, 10.0, 100.0, 1000.0, 10000.0)
    folds = 2 if args.quick else 3
    seeds = (0,) if args.quick else (0, 1, 2)
    start = time.perf_counter()

    school = Parallel(n_jobs=args.jobs)(
        delayed(run_school_split)(k, school_grid, folds) for k in range(1, args.splits + 1)
    )
    note = (
        f"School, {args.splits} split(s), explained variance on the test part; "
        f"strength by {folds}-fold CV "
        f"on the training part, grid s ∈ {school_grid} (ridge α ∈ {RIDGE_ALPHAS})."
    )
    print(_table("School", school, note))
    best_mtl = max(np.mean([r[n][0] for r in school]) for n in REGRESSORS)
    indep = float(np.mean([r["independent ridge (sklearn)"][0] for r in school]))
    verdict = "meets" if best_mtl > indep else "MISSES"
    print(
        f"\nFloor: best multi-task EV {best_mtl:.4f} vs independent ridge {indep:.4f}: {verdict} the floor.\n"
    )

    sarcos = Parallel(n_jobs=min(args.jobs, len(seeds)))(delayed(run_sarcos)(s, sarcos_grid) for s in seeds)
    note = (
        f"SARCOS (3000 train / 449 validation / 1000 test rows of the 4,449-row test file), "
        f"seed(s) {seeds}; EV averaged over the 7 torques; strength chosen on the validation part, "
        f"grid s ∈ {sarcos_grid}."
    )
    print(_table("SARCOS", sarcos, note))

    sp = l21_speed()
    print(
        "\n### L21 solver vs scikit-learn MultiTaskLasso (SARCOS 3000 x 21, 7 tasks, alpha 0.1, tol 1e-4)\n"
    )
    print("| solver | fit time (s) | relative objective gap to a tight reference |")
    print("|---|---|---|")
    print(f"| L21Regressor (coordinate descent, certified gap) | {sp['ours_s']:.4f} | {sp['ours_gap']:.2e} |")
    print(f"| sklearn MultiTaskLasso (CD) | {sp['sklearn_s']:.4f} | {sp['sklearn_gap']:.2e} |")
    print(f"\nTime ratio L21Regressor / MultiTaskLasso: {sp['ratio']:.2f}")
    print(f"\nTotal wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
