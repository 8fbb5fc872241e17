"""DirtyRegressor / DirtyClassifier (W = P + Q, ℓ1,∞ + ℓ1) against cvxpy and the Lasso limit."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from tests.classic._two_part import (
    CLF_TOL,
    TIGHT,
    cvx_least_squares,
    cvx_logistic,
    np_least_squares,
    np_logistic,
    shared_data,
)

from multitask.classic import DirtyClassifier, DirtyRegressor, LassoRegressor


def _pen_np(P: np.ndarray, Q: np.ndarray, l1: float, l2: float) -> float:
    return l1 * np.abs(P).max(axis=1).sum() + l2 * np.abs(Q).sum()


def _pen_cvx(P, Q, l1: float, l2: float):
    return l1 * cp.sum(cp.max(cp.abs(P), axis=1)) + l2 * cp.sum(cp.abs(Q))


def _cvx_ls(Xs, ys, l1, l2):
    return cvx_least_squares(Xs, ys, lambda P, Q: _pen_cvx(P, Q, l1, l2))


def _np_ls(Xs, ys, m, l1, l2):
    return np_least_squares(Xs, ys, m, lambda P, Q: _pen_np(P, Q, l1, l2))


@pytest.mark.parametrize("l1,l2", [(6.0, 3.0), (2.0, 5.0)])
def test_regressor_vs_cvxpy(l1, l2):
    X, Y = shared_data()
    m = DirtyRegressor(lambda1=l1, lambda2=l2, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(m.P_ + m.Q_, m.coef_)
    Xs, ys = [X] * 3, [Y[:, t] for t in range(3)]
    ours = _np_ls(Xs, ys, m, l1, l2)
    assert ours == pytest.approx(_cvx_ls(Xs, ys, l1, l2), rel=1e-4)
    assert m.objective_path_[-1] == pytest.approx(ours, rel=1e-10)


def test_per_task_form_vs_cvxpy():
    rng = np.random.default_rng(1)
    sizes = (9, 16, 12)
    X = rng.normal(size=(sum(sizes), 5))
    task = np.repeat(np.arange(3), sizes)
    y = X @ rng.normal(size=5) + 0.5 * rng.normal(size=len(task))
    m = DirtyRegressor(lambda1=4.0, lambda2=2.0, **TIGHT).fit(X, y, task=task)
    Xs, ys = [X[task == t] for t in range(3)], [y[task == t] for t in range(3)]
    assert _np_ls(Xs, ys, m, 4.0, 2.0) == pytest.approx(_cvx_ls(Xs, ys, 4.0, 2.0), rel=1e-4)


def test_huge_lambda1_reduces_to_lasso():
    # ‖P‖₁,∞ priced out: P = 0 and Q solves the ℓ1 problem with strength lambda2.
    X, Y = shared_data(seed=2)
    m = DirtyRegressor(lambda1=1e6, lambda2=3.0, **TIGHT).fit(X, Y)
    ref = LassoRegressor(rho1=3.0, **TIGHT).fit(X, Y)
    assert np.all(m.P_ == 0.0)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=1e-6)


def test_classifier_vs_cvxpy():
    rng = np.random.default_rng(3)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = np.where(X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T)) > 0, 1, -1)
    l1, l2 = 0.05, 0.03
    m = DirtyClassifier(lambda1=l1, lambda2=l2, **CLF_TOL).fit(X, Y)
    ref = cvx_logistic(X, Y, lambda P, Q: _pen_cvx(P, Q, l1, l2))
    ours = np_logistic(X, Y, m, lambda P, Q: _pen_np(P, Q, l1, l2))
    assert ours == pytest.approx(ref, rel=1e-4)
