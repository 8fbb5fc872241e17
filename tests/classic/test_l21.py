"""L21Regressor / L21Classifier against scikit-learn's MultiTaskLasso and cvxpy."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from sklearn.linear_model import MultiTaskLasso

from multitask.classic import L21Classifier, L21Regressor

TIGHT = dict(tol=1e-13, stop="obj_change", max_iter=20000)
CLF_TOL = dict(tol=1e-10, stop="obj_change", max_iter=20000)  # ample for 1e-4 in objective


def _shared(seed: int = 0, n: int = 30, d: int = 6, T: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    W = rng.normal(size=(d, T))
    W[3:] = 0.0
    Y = X @ W + 0.3 * rng.normal(size=(n, T)) + 1.0
    return X, Y


def _l21(W: np.ndarray) -> float:
    return float(np.linalg.norm(W, axis=1).sum())


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [0.05, 0.5])
def test_matches_sklearn_multitask_lasso(alpha, fit_intercept):
    # sklearn: (1/2n)‖Y − XW‖²_F + α‖W‖₂,₁ ; times n: ½‖Y − XW‖²_F + nα‖W‖₂,₁  =>  rho1 = n·α
    X, Y = _shared()
    n = X.shape[0]
    ref = MultiTaskLasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=100000).fit(X, Y)
    m = L21Regressor(rho1=n * alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(m.intercept_, ref.intercept_, atol=1e-4)
    # the same features are dropped, for every task at once (feature rows of W = columns of coef_)
    np.testing.assert_array_equal(np.all(m.coef_ == 0.0, axis=0), np.all(ref.coef_ == 0.0, axis=0))
    if alpha == 0.5:
        assert np.any(np.all(m.coef_ == 0.0, axis=0))


def test_zero_solution_threshold():
    # With centred data, W = 0 is optimal iff rho1 >= maxᵢ ‖(XᵀY)ᵢ,:‖₂.
    X, Y = _shared()
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    lam_max = np.linalg.norm(Xc.T @ Yc, axis=1).max()
    assert np.all(L21Regressor(rho1=lam_max * 1.001).fit(X, Y).coef_ == 0.0)
    np.testing.assert_allclose(L21Regressor(rho1=lam_max * 1.001).fit(X, Y).intercept_, Y.mean(0))
    assert np.any(L21Regressor(rho1=lam_max * 0.9).fit(X, Y).coef_ != 0.0)


def _cvx_ls(Xs, ys, rho1, rho_l2):
    d, T = Xs[0].shape[1], len(Xs)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(0.5 * cp.sum_squares(ys[t] - Xs[t] @ W[:, t] - c[t]) for t in range(T))
    obj = loss + rho_l2 * cp.sum_squares(W) + rho1 * cp.sum(cp.norm(W, 2, axis=1))
    return cp.Problem(cp.Minimize(obj)).solve(solver=cp.CLARABEL)


def _np_ls(Xs, ys, m, rho1, rho_l2):
    W = m.coef_.T
    loss = sum(0.5 * np.sum((ys[t] - Xs[t] @ W[:, t] - m.intercept_[t]) ** 2) for t in range(len(Xs)))
    return loss + rho_l2 * np.sum(W * W) + rho1 * _l21(W)


def test_rho_l2_vs_cvxpy():
    X, Y = _shared(seed=1)
    m = L21Regressor(rho1=3.0, rho_l2=2.0, **TIGHT).fit(X, Y)
    Xs, ys = [X] * 3, [Y[:, t] for t in range(3)]
    ref = _cvx_ls(Xs, ys, 3.0, 2.0)
    assert _np_ls(Xs, ys, m, 3.0, 2.0) == pytest.approx(ref, rel=1e-4)
    assert m.objective_path_[-1] == pytest.approx(_np_ls(Xs, ys, m, 3.0, 2.0), rel=1e-10)


def test_per_task_form_vs_cvxpy():
    rng = np.random.default_rng(2)
    sizes = (8, 15, 11, 6)
    X = rng.normal(size=(sum(sizes), 5))
    task = np.repeat(np.arange(4), sizes)
    y = X @ rng.normal(size=5) + rng.normal(size=len(task)) + task
    m = L21Regressor(rho1=4.0, **TIGHT).fit(X, y, task=task)
    Xs, ys = [X[task == t] for t in range(4)], [y[task == t] for t in range(4)]
    assert _np_ls(Xs, ys, m, 4.0, 0.0) == pytest.approx(_cvx_ls(Xs, ys, 4.0, 0.0), rel=1e-4)


def test_classifier_vs_cvxpy():
    rng = np.random.default_rng(3)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = np.where(X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T)) > 0, 1, 0)
    rho1 = 0.05
    m = L21Classifier(rho1=rho1, **CLF_TOL).fit(X, Y)
    S = 2.0 * Y - 1.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + rho1 * cp.sum(cp.norm(W, 2, axis=1)))).solve(solver=cp.CLARABEL)
    M = S * (X @ m.coef_.T + m.intercept_)
    ours = np.logaddexp(0.0, -M).mean(axis=0).sum() + rho1 * _l21(m.coef_.T)
    assert ours == pytest.approx(ref, rel=1e-4)
    assert ours == pytest.approx(m.objective_path_[-1], rel=1e-10)
