"""Time to a certified relative duality gap for the classical estimators, against scikit-learn.

Run:  python benchmarks/classic_solvers.py [--quick] [--only NAME ...] [--tol 1e-6] [--max-iter N]
      python benchmarks/classic_solvers.py --school-grid [--only NAME ...] [--tol 1e-6] [--max-iter N]

Problems (least squares, centred data, no intercept):

* SARCOS (``multitask.data.tabular.load_sarcos(0)``): 3000 x 21 standardised inputs, 7 torques as tasks,
  shared design ``fit(X, Y)``;
* School (``load_school(1)`` training part): 139 schools, per-task rows ``fit(X, y, task=t)``;
* synthetic p ≫ n: shared 500 x 2000 Gaussian design, 20 tasks, 20 active rows (``--quick``: 200 x 1000,
  10 tasks).

Every convex regressor is fitted with ``stop="gap", tol=TOL``: the time to a certified relative duality
gap ``(P − D)/P ≤ TOL``, or for cFSGL, CMTL and cASO (no dual computed) to a relative KKT residual
(gradient mapping) ≤ TOL, marked so; MSMTFL (non-convex) runs its default rule at ``tol=TOL`` and its
row says "no certificate". A fit that stops at ``--max-iter`` shows its
final gap (above TOL). Lasso and L21 use ``rho1 = 0.1·rho_max`` (SARCOS, School) or ``0.02·rho_max``
(synthetic), rho_max the smallest strength with W = 0 optimal; the others the scale s = 100 of
``benchmarks/classic_school.py``'s :func:`params_for`. Where scikit-learn solves the same problem
(``MultiTaskLasso`` for L21 on a shared design, ``Lasso`` for the Lasso: on the shared design with Y,
on School one fit per school, ``alpha = rho1 / n``), its time is that of the fit with the largest
``tol`` ∈ {1e-4, 1e-5, ..., 1e-12} whose solution our own dual certifies (an oracle tolerance, in its
favour), and the ratio ours / scikit-learn is printed; the same for skglm (working sets and Anderson
acceleration, Bertrand et al. 2022) where it is installed (not a dependency: ``pip install skglm``).
Times: for Lasso and L21 the median of ``--repeat`` fits (default 7) of ours and scikit-learn's,
alternated in the same process (ours, sklearn, ours, ...) so that the load of a shared machine falls on
both alike; the other estimators, the median of ``--repeat`` fits.

``--school-grid``: every regressor on School (fit intercepts, as ``benchmarks/classic_school.py``) at each
strength of its cross-validation grid there (s ∈ {10, 100, 1000}, :func:`params_for`), with its default
engine and ``stop="gap", tol=TOL``: iterations, final ``gap_`` and time (MTFL and MTRL: their default
certified solver on the objective minimised over the covariance, not the papers' alternating scheme).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import Lasso, MultiTaskLasso  # noqa: E402

import multitask.classic as classic  # noqa: E402
from multitask.classic._losses import least_squares  # noqa: E402
from multitask.data.tabular import load_sarcos, load_school  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classic_school import params_for  # noqa: E402

REGRESSORS = sorted(name for name in classic.__all__ if name.endswith("Regressor"))
RESIDUAL_ONLY = ("CFGLassoRegressor", "CMTLRegressor", "CASORegressor")  # no dual: the KKT residual
SK_TOLS = tuple(10.0**-k for k in range(4, 13))


def problems(quick: bool) -> dict[str, dict]:
    """name -> dict(X, Y) (shared design) or dict(X, y, task) (per-task rows), centred."""
    s = load_sarcos(0)
    X = s["X_train"]
    X = (X - X.mean(0)) / X.std(0)
    sarcos = dict(X=X, Y=s["Y_train"] - s["Y_train"].mean(0), frac=0.1)
    d = load_school(1)
    Xs, ys, task = d["X_train"][:, :-1], d["y_train"], d["task_train"]  # the bias column is the intercept
    Xc, yc = Xs.copy(), ys.copy()
    for t in np.unique(task):
        Xc[task == t] -= Xs[task == t].mean(0)
        yc[task == t] -= ys[task == t].mean()
    school = dict(X=Xc, y=yc, task=task, frac=0.1)
    n, p, T = (200, 1000, 10) if quick else (500, 2000, 20)
    rng = np.random.default_rng(0)
    Xg = rng.normal(size=(n, p))
    W = np.zeros((p, T))
    W[rng.choice(p, 20, replace=False)] = rng.normal(size=(20, T))
    Yg = Xg @ W + 0.5 * rng.normal(size=(n, T))
    synth = dict(X=Xg - Xg.mean(0), Y=Yg - Yg.mean(0), frac=0.02)
    return {"SARCOS": sarcos, "School": school, f"synthetic {n}x{p}, {T} tasks": synth}


def _loss(prob: dict):
    if "Y" in prob:
        return least_squares([prob["X"]] * prob["Y"].shape[1], list(prob["Y"].T))
    T = int(prob["task"].max()) + 1
    return least_squares([prob["X"][prob["task"] == t] for t in range(T)],
                         [prob["y"][prob["task"] == t] for t in range(T)])


def rho_max(prob: dict, penalty: str) -> float:
    B = _loss(prob).B
    return float(np.abs(B).max() if penalty == "l1" else np.linalg.norm(B, axis=1).max())


def _fit(est, prob: dict):
    if "Y" in prob:
        return est.fit(prob["X"], prob["Y"])
    return est.fit(prob["X"], prob["y"], task=prob["task"])


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def interleaved(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median time of each function, the calls alternated (f1, f2, f1, f2, ...) ``repeat`` times."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def certified_gap(prob: dict, name: str, rho1: float, W: np.ndarray) -> float:
    """Our relative duality gap of W (d x T) for the Lasso / L21 problem at rho1."""
    est = getattr(classic, name)(rho1=rho1, fit_intercept=False)
    return float(est._problem(_loss(prob)).gap((W,), np.zeros(W.shape[1])))


def sklearn_fit(prob: dict, name: str, rho1: float, tol: float):
    """scikit-learn's solution (d x T) of the same problem, or None where it has none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if "Y" in prob:
            n = prob["X"].shape[0]
            cls = MultiTaskLasso if name == "L21Regressor" else Lasso
            return cls(alpha=rho1 / n, fit_intercept=False, tol=tol, max_iter=100_000).fit(
                prob["X"], prob["Y"]).coef_.T
        if name != "LassoRegressor":
            return None
        task = prob["task"]
        cols = []
        for t in range(int(task.max()) + 1):
            Xt, yt = prob["X"][task == t], prob["y"][task == t]
            m = Lasso(alpha=rho1 / len(yt), fit_intercept=False, tol=tol, max_iter=100_000).fit(Xt, yt)
            cols.append(m.coef_)
        return np.stack(cols, axis=1)


def skglm_fit(prob: dict, name: str, rho1: float, tol: float):
    """skglm's solution (d x T) of the same problem (its ``Lasso`` column by column, its
    ``MultiTaskLasso``; both minimise (1/2n)‖y − Xw‖² + alpha·N(w)), or None where it has none."""
    import skglm

    if "Y" not in prob:
        return None
    n = prob["X"].shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "L21Regressor":
            return skglm.MultiTaskLasso(alpha=rho1 / n, fit_intercept=False, tol=tol, max_iter=1000).fit(
                prob["X"], prob["Y"]).coef_.T
        return np.stack([skglm.Lasso(alpha=rho1 / n, fit_intercept=False, tol=tol, max_iter=1000).fit(
            prob["X"], y).coef_ for y in prob["Y"].T], axis=1)


def peers() -> dict[str, Callable]:
    """The peers timed: scikit-learn always, skglm where it is installed (not a dependency)."""
    out: dict[str, Callable] = {"scikit-learn": sklearn_fit}
    try:
        import skglm  # noqa: F401
    except ImportError:
        pass
    else:
        out["skglm"] = skglm_fit
    return out


def oracle_tol(prob: dict, name: str, rho1: float, target: float, fit: Callable = sklearn_fit) -> float:
    """The largest tol at which a peer's fit is certified at ``target`` by our dual; NaN if none."""
    for tol in SK_TOLS:
        W = fit(prob, name, rho1, tol)
        if W is None:
            return np.nan
        if certified_gap(prob, name, rho1, W) <= target:
            return tol
    return np.nan


def school_grid(args: argparse.Namespace) -> None:
    d = load_school(1)
    X, y, task = d["X_train"], d["y_train"], d["task_train"]
    names = args.only or REGRESSORS
    print(f"School, every strength of the CV grid, stop='gap', tol={args.tol:g}, max_iter={args.max_iter} "
          f"(median of {args.repeat}).\n")
    print("| estimator | s | n_iter_ | gap_ | time (s) |")
    print("|---|---|---|---|---|")
    for name in names:
        for scale in (10.0, 100.0, 1000.0):
            est = getattr(classic, name)(**params_for(name, scale), tol=args.tol, max_iter=args.max_iter,
                                         stop="gap")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t, est = median_time(lambda est=est: est.fit(X, y, task=task), args.repeat)
            kind = " (KKT residual)" if name in RESIDUAL_ONLY else ""
            print(f"| {name} | {scale:g} | {est.n_iter_} | {est.gap_:.1e}{kind} | {t:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller synthetic problem, one repeat")
    parser.add_argument("--only", nargs="*", default=None, help="regressor names (default: all)")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--school-grid", action="store_true", help="every regressor on School's CV grid")
    args = parser.parse_args()
    if args.school_grid:
        school_grid(args)
        return
    repeat = 1 if args.quick else args.repeat
    names = args.only or REGRESSORS
    print(f"Time to a certified relative duality gap ≤ {args.tol:g} (median of {repeat}; Lasso and L21 "
          "alternated with scikit-learn).\n")
    fits = peers()
    head = "".join(f" {p} (s) [tol] | ours / {p} |" for p in fits)
    print(f"| problem | estimator | ours (s) | gap_ | n_iter_ |{head}")
    print("|---|---|---|---|---|" + "---|---|" * len(fits))
    for pname, prob in problems(args.quick).items():
        for name in names:
            cls = getattr(classic, name)
            if name in ("LassoRegressor", "L21Regressor"):
                rho1 = prob["frac"] * rho_max(prob, "l1" if name == "LassoRegressor" else "l21")
                params = dict(rho1=rho1)
            else:
                params = params_for(name, 100.0)
            certified = name != "MSMTFLRegressor"
            est = cls(**params, fit_intercept=False, tol=args.tol, max_iter=args.max_iter,
                      stop="gap" if certified else "rel_change")
            kind = " (KKT residual)" if name in RESIDUAL_ONLY else ""
            tols = {p: np.nan for p in fits}
            if name in ("LassoRegressor", "L21Regressor"):
                tols = {p: oracle_tol(prob, name, params["rho1"], args.tol, fit) for p, fit in fits.items()}
            timed = [p for p in fits if np.isfinite(tols[p])]
            cells = {p: "— | —" for p in fits}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                rho1 = params.get("rho1")
                runs = [lambda est=est, prob=prob: _fit(est, prob)] + [
                    lambda prob=prob, tol=tols[p], fit=fits[p], name=name, rho1=rho1: fit(
                        prob, name, rho1, tol) for p in timed]
                t, *t_peers = interleaved(runs, repeat)
            for p, tp in zip(timed, t_peers):
                cells[p] = f"{tp:.4f} [{tols[p]:.0e}] | {t / tp:.2f}"
            gap = f"{est.gap_:.1e}{kind}" if certified else "no certificate"
            row = "".join(f" {cells[p]} |" for p in fits)
            print(f"| {pname} | {name} | {t:.4f} | {gap} | {est.n_iter_} |{row}", flush=True)


if __name__ == "__main__":
    main()
