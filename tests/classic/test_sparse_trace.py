"""SparseTraceRegressor / SparseTraceClassifier (ℓ1 on P, ‖Q‖_* ≤ rho2) against cvxpy."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic import LassoRegressor, SparseTraceClassifier, SparseTraceRegressor

TIGHT = dict(tol=1e-13, stop="obj_change", max_iter=20000)
CLF_TOL = dict(tol=1e-10, stop="obj_change", max_iter=20000)  # ample for 1e-4 in objective


def _shared(seed: int = 0, n: int = 30, d: int = 5, T: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    W = rng.normal(size=(d, 1)) @ rng.normal(size=(1, T))
    Y = X @ W + 0.3 * rng.normal(size=(n, T)) + 1.0
    return X, Y


def _nuc(Q: np.ndarray) -> float:
    return float(np.linalg.svd(Q, compute_uv=False).sum())


@pytest.mark.parametrize("r1,r2", [(5.0, 1.0), (20.0, 3.0)])
def test_regressor_vs_cvxpy(r1, r2):
    X, Y = _shared()
    d, T = X.shape[1], Y.shape[1]
    m = SparseTraceRegressor(rho1=r1, rho2=r2, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(m.P_ + m.Q_, m.coef_)
    assert _nuc(m.Q_) <= r2 + 1e-9
    P, Q, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    loss = sum(0.5 * cp.sum_squares(Y[:, t] - X @ (P[:, t] + Q[:, t]) - c[t]) for t in range(T))
    prob = cp.Problem(cp.Minimize(loss + r1 * cp.sum(cp.abs(P))), [cp.normNuc(Q) <= r2])
    ref = prob.solve(solver=cp.CLARABEL)
    ours = 0.5 * np.sum((Y - X @ m.coef_.T - m.intercept_) ** 2) + r1 * np.abs(m.P_).sum()
    assert ours == pytest.approx(ref, rel=1e-4)
    assert m.objective_path_[-1] == pytest.approx(ours, rel=1e-10)


def test_zero_radius_reduces_to_lasso():
    X, Y = _shared(seed=1)
    m = SparseTraceRegressor(rho1=4.0, rho2=0.0, **TIGHT).fit(X, Y)
    ref = LassoRegressor(rho1=4.0, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(m.Q_, 0.0, atol=1e-12)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=1e-6)


def test_classifier_vs_cvxpy():
    rng = np.random.default_rng(3)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = np.where(X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T)) > 0, 1, -1)
    r1, r2 = 0.05, 0.5
    m = SparseTraceClassifier(rho1=r1, rho2=r2, **CLF_TOL).fit(X, Y)
    P, Q, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    loss = sum(
        cp.sum(cp.logistic(-cp.multiply(Y[:, t], X @ (P[:, t] + Q[:, t]) + c[t]))) / n for t in range(T)
    )
    prob = cp.Problem(cp.Minimize(loss + r1 * cp.sum(cp.abs(P))), [cp.normNuc(Q) <= r2])
    ref = prob.solve(solver=cp.CLARABEL)
    M = Y * (X @ m.coef_.T + m.intercept_)
    ours = np.logaddexp(0.0, -M).mean(axis=0).sum() + r1 * np.abs(m.P_).sum()
    assert ours == pytest.approx(ref, rel=1e-4)
    assert _nuc(m.Q_) <= r2 + 1e-9
