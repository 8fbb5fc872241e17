"""MTFL / MTRL's certified solver (the objective minimised over D / Ω, :mod:`multitask.classic._alternating`):
it and the papers' alternating scheme reach the same objective, the reported gap bounds the suboptimality
against a tight reference and reaches tol, both engines (ADMM with the Gram step, FISTA without), a
non-converged fit warns, D_ / Ω_ are the M-step of the solution."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from multitask.classic import MTFLRegressor, MTRLRegressor
from multitask.classic._losses import least_squares
from multitask.classic.mtfl import mtfl_d_step
from multitask.classic.mtrl import mtrl_omega_step

EXACT = dict(solver=cp.CLARABEL, tol_gap_rel=1e-12, tol_feas=1e-12)


def _data(n: int, d: int, T: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 1)) @ rng.normal(size=(1, T)) + 0.3 * rng.normal(size=(d, T))
    return X, X @ W + 0.5 * rng.normal(size=(n, T))


def _model(kind: str, eps: float, **kw: object) -> MTFLRegressor | MTRLRegressor:
    if kind == "mtfl":
        return MTFLRegressor(gamma=2.0, epsilon=eps, fit_intercept=False, **kw)
    return MTRLRegressor(lambda1=3.0, lambda2=5.0, epsilon=eps, fit_intercept=False, **kw)


def _objective(est: MTFLRegressor | MTRLRegressor, X: np.ndarray, Y: np.ndarray, W: np.ndarray) -> float:
    """P(W) of the ε-problem minimised over M, computed from scratch."""
    return est.objective(0.5 * float(np.sum((Y - X @ W) ** 2)), W)


def _cvxpy_solution(kind: str, eps: float, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    d, T = X.shape[1], Y.shape[1]
    W = cp.Variable((d, T))
    if kind == "mtfl":  # (tr (WWᵀ + εI)^½)² = ‖[W, √ε I]‖²_*
        pen = 2.0 * cp.square(cp.normNuc(cp.hstack([W, np.sqrt(eps) * np.eye(d)])))
    else:
        pen = 1.5 * cp.sum_squares(W) + 2.5 * cp.square(cp.normNuc(cp.vstack([W, np.sqrt(eps) * np.eye(T)])))
    with warnings.catch_warnings():  # "may be inaccurate" at 1e-12: the point is only used through P(W)
        warnings.simplefilter("ignore", UserWarning)
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - X @ W) + pen)).solve(**EXACT)
    return W.value


def test_defaults_are_the_certified_solver() -> None:
    for est in (MTFLRegressor(), MTRLRegressor()):
        assert est.solver == "proximal" and est.stop == "gap"


@pytest.mark.parametrize("kind", ["mtfl", "mtrl"])
def test_solvers_reach_the_same_objective(kind: str) -> None:
    X, Y = _data(40, 5)
    eps = 1e-2  # the alternating scheme converges at this ε (it creeps at 1e-8)
    alt = _model(kind, eps, solver="alternating", tol=1e-10, max_iter=20000).fit(X, Y)
    prox = _model(kind, eps, tol=1e-10).fit(X, Y)
    assert alt.gap_ <= 1e-10 and prox.gap_ <= 1e-10
    p_alt, p_prox = _objective(alt, X, Y, alt.coef_.T), _objective(prox, X, Y, prox.coef_.T)
    assert p_prox == pytest.approx(p_alt, rel=1e-9)
    np.testing.assert_allclose(prox.coef_, alt.coef_, atol=1e-4 * np.abs(alt.coef_).max())


@pytest.mark.parametrize("eps", [1e-8, 1e-2])
@pytest.mark.parametrize("engine", ["admm", "fista"])
@pytest.mark.parametrize("kind", ["mtfl", "mtrl"])
def test_gap_bounds_the_suboptimality_and_reaches_tol(kind: str, engine: str, eps: float) -> None:
    """ADMM runs where the Gram matrices are precomputed (n > d), FISTA otherwise (n < d). P* is bounded
    above by the exact objective of two feasible points (cvxpy's, our tight fit's), so every check of
    ``gap_ ≥ (P − P*)/P`` below is at least as strict as the true one."""
    X, Y = _data(40, 5) if engine == "admm" else _data(12, 20)
    assert least_squares([X] * Y.shape[1], list(Y.T)).use_gram == (engine == "admm")
    tight = _model(kind, eps, tol=1e-9, max_iter=50000).fit(X, Y)
    assert tight.gap_ <= 1e-9
    ref = _cvxpy_solution(kind, eps, X, Y)
    p_tight, p_ref = _objective(tight, X, Y, tight.coef_.T), _objective(tight, X, Y, ref)
    assert (p_tight - p_ref) / p_tight <= tight.gap_ + 1e-12
    p_star = min(p_tight, p_ref)
    for max_iter in (1, 3, 10, 30):
        loose = _model(kind, eps, tol=0.0, max_iter=max_iter)
        with pytest.warns(ConvergenceWarning, match="relative duality gap"):
            loose.fit(X, Y)
        p = _objective(loose, X, Y, loose.coef_.T)
        assert loose.objective_path_[-1] == pytest.approx(p, rel=1e-12)
        assert loose.gap_ >= (p - p_star) / p - 1e-12


@pytest.mark.parametrize("kind", ["mtfl", "mtrl"])
def test_converged_fit_is_quiet_and_stores_m(kind: str) -> None:
    X, Y = _data(40, 5, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = _model(kind, 1e-8, tol=1e-8).fit(X, Y)
    W = est.coef_.T
    if kind == "mtfl":
        np.testing.assert_allclose(est.D_, mtfl_d_step(W, 1e-8), atol=1e-12)
    else:
        np.testing.assert_allclose(est.Omega_, mtrl_omega_step(W, 1e-8), atol=1e-12)
        np.testing.assert_allclose(np.diag(est.task_correlation_), 1.0)


@pytest.mark.parametrize("kind", ["mtfl", "mtrl"])
def test_warm_start_from_the_solution_stops_at_once(kind: str) -> None:
    X, Y = _data(40, 5, seed=4)
    est = _model(kind, 1e-8, tol=1e-8, warm_start=True).fit(X, Y)
    first = est.n_iter_
    est.fit(X, Y)
    assert est.gap_ <= 1e-8 and est.n_iter_ <= min(first, 10)
