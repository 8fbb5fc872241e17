"""RMTLRegressor / RMTLClassifier (W = L + S, trace norm + column groups) against cvxpy."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic import RMTLClassifier, RMTLRegressor, TraceRegressor

TIGHT = dict(tol=1e-13, stop="obj_change", max_iter=20000)
CLF_TOL = dict(tol=1e-10, stop="obj_change", max_iter=20000)  # ample for 1e-4 in objective


def _shared(seed: int = 0, n: int = 30, d: int = 5, T: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    W = rng.normal(size=(d, 1)) @ rng.normal(size=(1, T))
    W[:, -1] = 5.0 * rng.normal(size=d)  # an outlier task
    Y = X @ W + 0.3 * rng.normal(size=(n, T)) + 1.0
    return X, Y


def _pen_np(L: np.ndarray, S: np.ndarray, r1: float, r2: float) -> float:
    return r1 * np.linalg.svd(L, compute_uv=False).sum() + r2 * np.linalg.norm(S, axis=0).sum()


def _pen_cvx(L, S, r1: float, r2: float):
    return r1 * cp.normNuc(L) + r2 * cp.sum(cp.norm(S, 2, axis=0))


@pytest.mark.parametrize("r1,r2", [(10.0, 20.0), (40.0, 15.0)])
def test_regressor_vs_cvxpy(r1, r2):
    X, Y = _shared()
    d, T = X.shape[1], Y.shape[1]
    m = RMTLRegressor(rho1=r1, rho2=r2, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(m.L_ + m.S_, m.coef_)
    L, S, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    loss = sum(0.5 * cp.sum_squares(Y[:, t] - X @ (L[:, t] + S[:, t]) - c[t]) for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + _pen_cvx(L, S, r1, r2))).solve(solver=cp.CLARABEL)
    ours = 0.5 * np.sum((Y - X @ m.coef_.T - m.intercept_) ** 2) + _pen_np(m.L_.T, m.S_.T, r1, r2)
    assert ours == pytest.approx(ref, rel=1e-4)
    assert m.objective_path_[-1] == pytest.approx(ours, rel=1e-10)


def test_huge_rho2_reduces_to_trace():
    X, Y = _shared(seed=1)
    m = RMTLRegressor(rho1=5.0, rho2=1e6, **TIGHT).fit(X, Y)
    ref = TraceRegressor(rho1=5.0, **TIGHT).fit(X, Y)
    assert np.all(m.S_ == 0.0)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=1e-5)


def test_classifier_vs_cvxpy():
    rng = np.random.default_rng(3)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = np.where(X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T)) > 0, 1, -1)
    r1, r2 = 0.05, 0.08
    m = RMTLClassifier(rho1=r1, rho2=r2, **CLF_TOL).fit(X, Y)
    L, S, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    loss = sum(
        cp.sum(cp.logistic(-cp.multiply(Y[:, t], X @ (L[:, t] + S[:, t]) + c[t]))) / n for t in range(T)
    )
    ref = cp.Problem(cp.Minimize(loss + _pen_cvx(L, S, r1, r2))).solve(solver=cp.CLARABEL)
    M = Y * (X @ m.coef_.T + m.intercept_)
    ours = np.logaddexp(0.0, -M).mean(axis=0).sum() + _pen_np(m.L_.T, m.S_.T, r1, r2)
    assert ours == pytest.approx(ref, rel=1e-4)
