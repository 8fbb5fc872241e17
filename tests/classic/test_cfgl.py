"""Convex fused sparse group lasso (cFSGL): exact prox operators and optimum against cvxpy, errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from tests.classic._grid import check_grid_search

from multitask.classic._fused import prox_fused_sparse_group_rows, prox_tv1d
from multitask.classic.cfgl import CFGLassoClassifier, CFGLassoRegressor

TIGHT = dict(tol=1e-11, stop="obj_change", max_iter=20000)
CLARABEL_TIGHT = dict(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)


def test_prox_tv1d_hand_worked() -> None:
    # two points: the gap shrinks by 2λ until they meet at the mean
    np.testing.assert_allclose(prox_tv1d(np.array([0.0, 1.0]), 0.25), [0.25, 0.75])
    np.testing.assert_allclose(prox_tv1d(np.array([0.0, 1.0]), 0.6), [0.5, 0.5])
    # a step 0,0,3,3 with λ = 0.5: each plateau moves by λ/2
    np.testing.assert_allclose(prox_tv1d(np.array([0.0, 0.0, 3.0, 3.0]), 0.5), [0.25, 0.25, 2.75, 2.75])
    np.testing.assert_allclose(prox_tv1d(np.array([1.0, -2.0, 5.0]), 0.0), [1.0, -2.0, 5.0])


def test_prox_tv1d_against_cvxpy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(2, 15))
        y = rng.normal(size=n) * rng.uniform(0.1, 3.0)
        lam = float(rng.uniform(0.0, 2.0))
        x = cp.Variable(n)
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x - y) + lam * cp.norm1(cp.diff(x)))).solve(
            **CLARABEL_TIGHT
        )
        np.testing.assert_allclose(prox_tv1d(y, lam), x.value, atol=1e-7)


def test_fused_sparse_group_prox_against_cvxpy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        V = rng.normal(size=(3, int(rng.integers(2, 8))))
        l1, l2, l3 = rng.uniform(0.0, 1.0, size=3)
        X = cp.Variable(V.shape)
        obj = (
            0.5 * cp.sum_squares(X - V)
            + l1 * cp.sum(cp.abs(X))
            + l2 * cp.sum(cp.abs(X[:, 1:] - X[:, :-1]))
            + l3 * cp.sum(cp.norm(X, 2, axis=1))
        )
        cp.Problem(cp.Minimize(obj)).solve(**CLARABEL_TIGHT)
        np.testing.assert_allclose(prox_fused_sparse_group_rows(V, l1, l2, l3), X.value, atol=1e-6)


def test_prox_input_errors() -> None:
    with pytest.raises(ValueError, match="1-D"):
        prox_tv1d(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        prox_fused_sparse_group_rows(np.zeros((2, 2)), -1.0, 0.0, 0.0)


def _penalty(W: np.ndarray, r1: float, r2: float, r3: float) -> float:
    return float(
        r1 * np.abs(W).sum() + r2 * np.abs(np.diff(W, axis=1)).sum() + r3 * np.linalg.norm(W, axis=1).sum()
    )


def _cvx_penalty(W: cp.Variable, r1: float, r2: float, r3: float) -> cp.Expression:
    return (
        r1 * cp.sum(cp.abs(W))
        + r2 * cp.sum(cp.abs(W[:, 1:] - W[:, :-1]))
        + r3 * cp.sum(cp.norm(W, 2, axis=1))
    )


@pytest.mark.parametrize("r1, r2, r3", [(1.0, 3.0, 4.0), (0.2, 15.0, 0.5), (5.0, 0.0, 0.0)])
def test_regressor_matches_cvxpy(r1: float, r2: float, r3: float) -> None:
    rng = np.random.default_rng(2)
    n, d, T = 30, 6, 5
    X = rng.normal(size=(n, d))
    Y = X @ np.cumsum(rng.normal(size=(d, T)), axis=1) + 0.5 * rng.normal(size=(n, T))
    est = CFGLassoRegressor(rho1=r1, rho2=r2, rho3=r3, **TIGHT).fit(X, Y)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))
    ref = cp.Problem(cp.Minimize(loss + _cvx_penalty(W, r1, r2, r3))).solve(solver="CLARABEL")
    Wn = est.coef_.T
    f = 0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2) + _penalty(Wn, r1, r2, r3)
    assert abs(f - ref) <= 1e-4 * abs(ref)
    assert est.objective_path_[-1] == pytest.approx(f, rel=1e-9)


def test_strong_fusion_gives_piecewise_constant_rows() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4))
    Y = X @ rng.normal(size=(4, 6)) + 0.3 * rng.normal(size=(40, 6))
    est = CFGLassoRegressor(rho1=0.0, rho2=200.0, rho3=0.0, tol=1e-10, max_iter=5000).fit(X, Y)
    np.testing.assert_allclose(np.diff(est.coef_, axis=0), 0.0, atol=1e-6)  # one model for all time points


def test_classifier_matches_cvxpy() -> None:
    rng = np.random.default_rng(4)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) > 0).astype(int)
    est = CFGLassoClassifier(rho1=0.01, rho2=0.03, rho3=0.02, **TIGHT).fit(X, Y)
    S = 2.0 * Y - 1.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + _cvx_penalty(W, 0.01, 0.03, 0.02))).solve(solver="CLARABEL")
    Wn = est.coef_.T
    f = np.sum(np.logaddexp(0, -S * (X @ Wn + est.intercept_))) / n + _penalty(Wn, 0.01, 0.03, 0.02)
    assert abs(f - ref) <= 1e-4 * abs(ref)


def test_bad_parameter_and_grid_search() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 4))
    Y = X @ rng.normal(size=(4, 3)) + rng.normal(size=(30, 3))
    with pytest.raises(ValueError, match="rho1"):
        CFGLassoRegressor(rho1=-0.1).fit(X, Y)
    check_grid_search(CFGLassoRegressor(tol=1e-8), {"rho2": [0.1, 20.0], "rho1": [0.1, 20.0]}, X, Y)
