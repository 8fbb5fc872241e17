"""The coordinate-descent engine of Lasso / L21 under ``stop="gap"``: its certified gap bounds the true
suboptimality (cvxpy), it agrees with FISTA, the weighted group block minimiser is exact, and a
non-converged fit warns."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from multitask.classic import L21Regressor, LassoRegressor
from multitask.classic._cd import _compressed, _group_block_min
from multitask.classic._losses import least_squares

EXACT = dict(solver=cp.CLARABEL, tol_gap_rel=1e-12, tol_feas=1e-12)


def _shared(seed=0, n=40, d=8, T=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T))


def _per_task(seed=1, d=5, sizes=(30, 12, 25, 40)):
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.normal(size=(task.size, d)) * rng.uniform(0.3, 3.0, size=(len(sizes), d))[task]  # uneven scales
    y = np.einsum("nd,nd->n", X, rng.normal(size=(len(sizes), d))[task]) + 0.3 * rng.normal(size=task.size)
    return X, y, task


def _penalty(name, W, rho1, rho_l2):
    norm = cp.sum(cp.abs(W)) if name == "lasso" else cp.sum(cp.norm(W, 2, axis=1))
    return rho1 * norm + rho_l2 * cp.sum_squares(W)


def _optimum_shared(X, Y, name, rho1, rho_l2):
    W = cp.Variable((X.shape[1], Y.shape[1]))
    obj = 0.5 * cp.sum_squares(Y - X @ W) + _penalty(name, W, rho1, rho_l2)
    return cp.Problem(cp.Minimize(obj)).solve(**EXACT)


def _optimum_per_task(X, y, task, name, rho1, rho_l2):
    T = task.max() + 1
    W = cp.Variable((X.shape[1], T))
    loss = sum(0.5 * cp.sum_squares(y[task == t] - X[task == t] @ W[:, t]) for t in range(T))
    return cp.Problem(cp.Minimize(loss + _penalty(name, W, rho1, rho_l2))).solve(**EXACT)


CLASSES = {"lasso": LassoRegressor, "l21": L21Regressor}


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("form", ["shared", "wide", "per_task"])
@pytest.mark.parametrize("rho_l2", [0.0, 0.7])
def test_cd_gap_bounds_true_suboptimality(name, form, rho_l2):
    """shared: n > d (ℓ2,1 on the Cholesky-compressed design); wide: n < d (working sets when rho_l2 = 0)."""
    rho1 = 6.0
    if form in ("shared", "wide"):
        X, Y = _shared() if form == "shared" else _shared(seed=4, n=20, d=60)
        ref = _optimum_shared(X, Y, name, rho1, rho_l2)
        fit = lambda m: m.fit(X, Y)  # noqa: E731
    else:
        X, y, task = _per_task()
        ref = _optimum_per_task(X, y, task, name, rho1, rho_l2)
        fit = lambda m: m.fit(X, y, task=task)  # noqa: E731
    for tol in (1e-3, 1e-8):
        m = fit(CLASSES[name](rho1=rho1, rho_l2=rho_l2, fit_intercept=False, stop="gap", tol=tol,
                              max_iter=20000))
        primal = m.objective_path_[-1]
        assert m.gap_ <= tol
        assert (primal - ref) / primal <= m.gap_ + 1e-9  # the certificate bounds the true suboptimality
    fista = fit(CLASSES[name](rho1=rho1, rho_l2=rho_l2, fit_intercept=False, stop="rel_change", tol=1e-12,
                              max_iter=20000))
    if form == "wide":  # n < d: FISTA's relative-change rule stalls short of the answer; compare objectives
        assert m.objective_path_[-1] <= fista.objective_path_[-1] * (1 + 1e-9)
    else:
        np.testing.assert_allclose(m.coef_, fista.coef_, atol=1e-4)


def test_cd_with_intercepts_and_warm_start():
    X, y, task = _per_task(seed=3)
    y = y + np.array([1.0, -2.0, 0.5, 3.0])[task]
    cold = L21Regressor(rho1=4.0, stop="gap", tol=1e-9).fit(X, y, task=task)
    fista = L21Regressor(rho1=4.0, tol=1e-13, max_iter=20000).fit(X, y, task=task)
    np.testing.assert_allclose(cold.intercept_, fista.intercept_, atol=1e-4)
    warm = L21Regressor(rho1=4.0, stop="gap", tol=1e-9, warm_start=True).fit(X, y, task=task)
    n_cold = warm.n_iter_
    warm.set_params(rho1=4.1).fit(X, y, task=task)
    assert warm.gap_ <= 1e-9 and warm.n_iter_ <= n_cold


def test_group_block_minimiser_is_exact():
    """KKT of min Σ ½Lₜ(wₜ − zₜ)² + ρ‖w‖: L ⊙ (w − z) + ρ w/‖w‖ = 0 (w ≠ 0), ‖L ⊙ z‖ ≤ ρ (w = 0)."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        z, L = rng.normal(size=6), rng.uniform(0.1, 5.0, size=6)
        rho = float(rng.uniform(0.1, 3.0))
        w = _group_block_min(z, L, rho)
        if w.any():
            np.testing.assert_allclose(L * (w - z) + rho * w / np.linalg.norm(w), 0.0, atol=1e-10)
        else:
            assert np.linalg.norm(L * z) <= rho
    assert not _group_block_min(np.array([0.1, 0.1]), np.array([1.0, 1.0]), 1.0).any()


@pytest.mark.parametrize("form", ["shared", "wide", "per_task"])
def test_cd_not_converged_warns_with_the_gap(form):
    m = L21Regressor(rho1=1.0, fit_intercept=False, stop="gap", tol=1e-14, max_iter=1)
    with pytest.warns(ConvergenceWarning, match="relative duality gap"):
        if form in ("shared", "wide"):
            m.fit(*(_shared() if form == "shared" else _shared(seed=4, n=20, d=60)))
        else:
            X, y, task = _per_task()
            m.fit(X, y, task=task)
    assert m.gap_ > 1e-14


def test_compressed_design_keeps_the_objective_up_to_a_constant():
    X, Y = _shared(seed=5, n=50, d=6, T=4)
    loss = least_squares([X] * 4, list(Y.T))
    R, Yr = _compressed(loss)
    assert R.shape == (6, 6) and Yr.shape == (6, 4)
    const = float(np.sum(Y * Y) - np.sum(Yr * Yr))
    rng = np.random.default_rng(0)
    for _ in range(3):
        W = rng.normal(size=(6, 4))
        np.testing.assert_allclose(np.sum((Y - X @ W) ** 2), np.sum((Yr - R @ W) ** 2) + const, rtol=1e-10)
    dup = np.hstack([X, X[:, :1]])  # a repeated column: XᵀX singular, the design is kept as it is
    assert _compressed(least_squares([dup] * 4, list(Y.T))) is None
    m = L21Regressor(rho1=3.0, fit_intercept=False, stop="gap", tol=1e-9).fit(dup, Y)
    assert m.gap_ <= 1e-9
