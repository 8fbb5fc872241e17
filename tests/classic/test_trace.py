"""TraceRegressor / TraceClassifier against cvxpy and the zero-solution threshold."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic import TraceClassifier, TraceRegressor

TIGHT = dict(tol=1e-13, stop="obj_change", max_iter=20000)
CLF_TOL = dict(tol=1e-10, stop="obj_change", max_iter=20000)  # ample for 1e-4 in objective


def _shared(seed: int = 0, n: int = 30, d: int = 5, T: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    W = rng.normal(size=(d, 1)) @ rng.normal(size=(1, T))  # rank one
    Y = X @ W + 0.5 * rng.normal(size=(n, T)) + 1.0
    return X, Y


def _nuc(W: np.ndarray) -> float:
    return float(np.linalg.svd(W, compute_uv=False).sum())


@pytest.mark.parametrize("rho1", [2.0, 20.0])
def test_regressor_vs_cvxpy(rho1):
    X, Y = _shared()
    d, T = X.shape[1], Y.shape[1]
    m = TraceRegressor(rho1=rho1, **TIGHT).fit(X, Y)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    obj = 0.5 * cp.sum_squares(Y - X @ W - np.ones((X.shape[0], 1)) @ cp.reshape(c, (1, T), order="C"))
    ref = cp.Problem(cp.Minimize(obj + rho1 * cp.normNuc(W))).solve(solver=cp.CLARABEL)
    ours = 0.5 * np.sum((Y - X @ m.coef_.T - m.intercept_) ** 2) + rho1 * _nuc(m.coef_)
    assert ours == pytest.approx(ref, rel=1e-4)
    assert m.objective_path_[-1] == pytest.approx(ours, rel=1e-10)


def test_large_strength_lowers_rank_and_threshold():
    X, Y = _shared()
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    spec = np.linalg.norm(Xc.T @ Yc, 2)  # W = 0 is optimal iff rho1 >= ‖XᵀY‖₂ (centred data)
    assert np.all(TraceRegressor(rho1=spec * 1.001).fit(X, Y).coef_ == 0.0)
    low = TraceRegressor(rho1=spec * 0.5, **TIGHT).fit(X, Y)
    free = TraceRegressor(rho1=1e-6, **TIGHT).fit(X, Y)
    assert np.linalg.matrix_rank(low.coef_, tol=1e-8) < np.linalg.matrix_rank(free.coef_, tol=1e-8)


def test_classifier_vs_cvxpy():
    rng = np.random.default_rng(3)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = np.where(X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T)) > 0, 1, -1)
    rho1 = 0.05
    m = TraceClassifier(rho1=rho1, **CLF_TOL).fit(X, Y)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(Y[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + rho1 * cp.normNuc(W))).solve(solver=cp.CLARABEL)
    M = Y * (X @ m.coef_.T + m.intercept_)
    ours = np.logaddexp(0.0, -M).mean(axis=0).sum() + rho1 * _nuc(m.coef_)
    assert ours == pytest.approx(ref, rel=1e-4)
