"""MTFL (Argyriou et al.): the alternating updates' closed forms, monotone objective of the alternating
solver, the optimum of the ε-problem (cvxpy) by both solvers and its equivalence with the squared-trace-norm
problem."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from tests.classic._grid import check_grid_search

from multitask.classic.mtfl import MTFLRegressor, mtfl_d_step, mtfl_w_step, task_grams


def _data(seed: int = 0, n: int = 30, d: int = 5, T: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(d, 2)) @ rng.normal(size=(2, T)) + 0.5 * rng.normal(size=(n, T))
    return X, Y


def _loss(X: np.ndarray, Y: np.ndarray, W: cp.Variable, c: cp.Variable) -> cp.Expression:
    n, T = Y.shape
    return 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))


def test_w_step_is_the_generalised_ridge_solution() -> None:
    rng = np.random.default_rng(1)
    Xs = [rng.normal(size=(n, 3)) for n in (6, 9)]
    ys = [rng.normal(size=X.shape[0]) for X in Xs]
    A = rng.normal(size=(3, 3))
    D = A @ A.T + 0.1 * np.eye(3)
    D /= np.trace(D)
    G, B = task_grams(Xs, ys)
    W = mtfl_w_step(G, B, D, gamma=0.7)
    for t, (X, y) in enumerate(zip(Xs, ys)):  # argmin ½‖y − Xw‖² + γ wᵀD⁻¹w
        np.testing.assert_allclose(
            W[:, t], np.linalg.solve(X.T @ X + 1.4 * np.linalg.inv(D), X.T @ y), rtol=1e-9
        )


def test_d_step_closed_form_is_optimal() -> None:
    rng = np.random.default_rng(2)
    W = rng.normal(size=(4, 2))
    eps = 1e-3
    D = mtfl_d_step(W, eps)
    C = W @ W.T + eps * np.eye(4)
    assert np.trace(D) == pytest.approx(1.0)
    lam = np.linalg.eigvalsh(C)
    best = np.trace(np.linalg.solve(D, C))
    assert best == pytest.approx(np.sum(np.sqrt(lam)) ** 2)  # (tr C^{1/2})²
    for _ in range(20):  # any other feasible D is worse
        B = rng.normal(size=(4, 4))
        other = D + 0.05 * (B @ B.T) / np.trace(B @ B.T)
        other /= np.trace(other)
        assert np.trace(np.linalg.solve(other, C)) >= best - 1e-12


@pytest.mark.parametrize("solver", ["alternating", "proximal"])
@pytest.mark.parametrize("gamma", [0.5, 5.0])
def test_reaches_the_epsilon_problem_optimum(gamma: float, solver: str) -> None:
    X, Y = _data()
    d, T = X.shape[1], Y.shape[1]
    eps = 1e-2
    if solver == "alternating":
        est = MTFLRegressor(gamma=gamma, epsilon=eps, tol=1e-13, stop="obj_change", max_iter=5000,
                            solver=solver).fit(X, Y)
        assert np.all(np.diff(est.objective_path_) <= 1e-12 * est.objective_path_[0])  # monotone decrease
    else:
        est = MTFLRegressor(gamma=gamma, epsilon=eps, tol=1e-10).fit(X, Y)
        assert est.gap_ <= 1e-10
    path = est.objective_path_
    W, c = cp.Variable((d, T)), cp.Variable(T)
    aug = cp.hstack([W, np.sqrt(eps) * np.eye(d)])  # singular values √(σᵢ² + ε)
    ref = cp.Problem(cp.Minimize(_loss(X, Y, W, c) + gamma * cp.square(cp.normNuc(aug)))).solve(
        solver="CLARABEL"
    )
    Wn = est.coef_.T
    C = Wn @ Wn.T + eps * np.eye(d)
    f = 0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2) + gamma * np.trace(np.linalg.solve(est.D_, C))
    assert abs(f - ref) <= 1e-4 * ref
    assert path[-1] == pytest.approx(f, rel=1e-9)
    np.testing.assert_allclose(est.D_, mtfl_d_step(Wn, eps), atol=1e-12)


def test_equivalent_to_the_squared_trace_norm_problem() -> None:
    """0 ≤ F₀(W_ε) − F₀* ≤ γ[(Σ√(σᵢ*² + ε))² − (Σσᵢ*)²], F₀ = loss + γ‖W‖²_*, σ* of the trace optimum."""
    X, Y = _data(seed=3)
    d, T = X.shape[1], Y.shape[1]
    gamma = 2.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    ref = cp.Problem(cp.Minimize(_loss(X, Y, W, c) + gamma * cp.square(cp.normNuc(W))))
    ref.solve(solver="CLARABEL")
    sig_star = np.linalg.svd(W.value, compute_uv=False)
    gaps = []
    for eps in (1e-1, 1e-3):
        est = MTFLRegressor(gamma=gamma, epsilon=eps, tol=1e-12, max_iter=5000).fit(X, Y)
        Wn = est.coef_.T
        f0 = (
            0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2)
            + gamma * np.linalg.svd(Wn, compute_uv=False).sum() ** 2
        )
        s2 = np.zeros(d)
        s2[: sig_star.size] = sig_star**2
        bound = gamma * (np.sum(np.sqrt(s2 + eps)) ** 2 - sig_star.sum() ** 2)
        gap = f0 - ref.value
        assert -1e-6 * ref.value <= gap <= bound + 1e-6 * ref.value
        gaps.append(gap)
    assert gaps[1] < gaps[0]


def test_learns_few_shared_features() -> None:
    X, Y = _data(seed=4, n=60, d=6, T=6)  # true W has rank 2
    est = MTFLRegressor(gamma=20.0, epsilon=1e-3, tol=1e-7).fit(X, Y)
    ev = np.sort(np.linalg.eigvalsh(est.D_))[::-1]
    assert ev[:2].sum() > 0.95  # D concentrates on a 2-D feature subspace


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(epsilon=0.0), "epsilon"), (dict(gamma=-1.0), "gamma"), (dict(solver="admm"), "solver")],
)
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    X, Y = _data()
    with pytest.raises(ValueError, match=match):
        MTFLRegressor(**kwargs).fit(X, Y)


def test_grid_search_cv() -> None:
    X, Y = _data(seed=5)
    grid = check_grid_search(MTFLRegressor(tol=1e-6), {"gamma": [0.1, 10.0, 1000.0]}, X, Y)
    direct = MTFLRegressor(tol=1e-6, **grid.best_params_).fit(X, Y)
    np.testing.assert_allclose(grid.best_estimator_.coef_, direct.coef_)
