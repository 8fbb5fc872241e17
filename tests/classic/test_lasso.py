"""LassoRegressor / LassoClassifier against scikit-learn's Lasso / ElasticNet and cvxpy."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso

from multitask.classic import LassoClassifier, LassoRegressor

TIGHT = dict(tol=1e-13, stop="obj_change", max_iter=20000)
CLF_TOL = dict(tol=1e-10, stop="obj_change", max_iter=20000)  # ample for 1e-4 in objective


def _shared(seed: int = 0, n: int = 30, d: int = 6, T: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    Y = X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) + 1.0
    return X, Y


def test_matches_sklearn_lasso_per_task():
    # sklearn Lasso: (1/2n)‖y − Xw‖² + α‖w‖₁ ; times n  =>  rho1 = n·α
    X, Y = _shared()
    n, alpha = X.shape[0], 0.2
    m = LassoRegressor(rho1=n * alpha, **TIGHT).fit(X, Y)
    for t in range(Y.shape[1]):
        ref = Lasso(alpha=alpha, tol=1e-12, max_iter=100000).fit(X, Y[:, t])
        np.testing.assert_allclose(m.coef_[t], ref.coef_, atol=1e-5)
        assert m.intercept_[t] == pytest.approx(ref.intercept_, abs=1e-5)
        np.testing.assert_array_equal(m.coef_[t] == 0.0, ref.coef_ == 0.0)


def test_rho_l2_matches_elastic_net():
    # ElasticNet: (1/2n)‖r‖² + α·l1·‖w‖₁ + ½α(1 − l1)‖w‖²  =>  rho1 = nα·l1, rho_l2 = ½nα(1 − l1)
    X, Y = _shared(seed=1)
    n, alpha, l1 = X.shape[0], 0.3, 0.4
    m = LassoRegressor(rho1=n * alpha * l1, rho_l2=0.5 * n * alpha * (1 - l1), **TIGHT).fit(X, Y)
    ref = ElasticNet(alpha=alpha, l1_ratio=l1, tol=1e-12, max_iter=100000).fit(X, Y)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(m.intercept_, ref.intercept_, atol=1e-5)


def test_per_task_form_matches_sklearn_lasso_per_task():
    rng = np.random.default_rng(2)
    sizes = (10, 25, 14)
    X = rng.normal(size=(sum(sizes), 4))
    task = np.repeat(np.arange(3), sizes)
    y = X @ rng.normal(size=4) + 0.5 * rng.normal(size=len(task))
    rho1 = 3.0
    m = LassoRegressor(rho1=rho1, **TIGHT).fit(X, y, task=task)
    for t, n_t in enumerate(sizes):  # each task alone: sklearn alpha = rho1 / n_t
        ref = Lasso(alpha=rho1 / n_t, tol=1e-12, max_iter=100000).fit(X[task == t], y[task == t])
        np.testing.assert_allclose(m.coef_[t], ref.coef_, atol=1e-5)


def test_classifier_vs_cvxpy():
    rng = np.random.default_rng(3)
    n, d, T = 40, 5, 2
    X = rng.normal(size=(n, d))
    Y = np.where(X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T)) > 0, "b", "a")
    rho1 = 0.03
    m = LassoClassifier(rho1=rho1, **CLF_TOL).fit(X, Y)
    S = np.where(Y == "b", 1.0, -1.0)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + rho1 * cp.sum(cp.abs(W)))).solve(solver=cp.CLARABEL)
    M = S * (X @ m.coef_.T + m.intercept_)
    ours = np.logaddexp(0.0, -M).mean(axis=0).sum() + rho1 * np.abs(m.coef_).sum()
    assert ours == pytest.approx(ref, rel=1e-4)
