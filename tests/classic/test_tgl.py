"""Temporal group lasso (TGL): optimum against cvxpy, temporal smoothing, row sparsity, errors."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from tests.classic._grid import check_grid_search

from multitask.classic.tgl import TGLClassifier, TGLRegressor

TIGHT = dict(tol=1e-11, stop="obj_change", max_iter=20000)


def _data(seed: int = 0, n: int = 30, d: int = 6, T: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, T))
    W[3:] = 0.0
    return X, X @ W + 0.5 * rng.normal(size=(n, T))


def _tgl_penalty(W: np.ndarray, rho1: float, rho2: float, rho3: float) -> float:
    return float(
        rho1 * np.sum(W**2) + rho2 * np.sum(np.diff(W, axis=1) ** 2) + rho3 * np.linalg.norm(W, axis=1).sum()
    )


def _cvx_penalty(W: cp.Variable, rho1: float, rho2: float, rho3: float) -> cp.Expression:
    return (
        rho1 * cp.sum_squares(W)
        + rho2 * cp.sum_squares(W[:, 1:] - W[:, :-1])
        + rho3 * cp.sum(cp.norm(W, 2, axis=1))
    )


@pytest.mark.parametrize("rho1, rho2, rho3", [(0.5, 3.0, 4.0), (0.0, 20.0, 1.0), (2.0, 0.0, 15.0)])
def test_regressor_matches_cvxpy(rho1: float, rho2: float, rho3: float) -> None:
    X, Y = _data()
    n, d = X.shape
    T = Y.shape[1]
    est = TGLRegressor(rho1=rho1, rho2=rho2, rho3=rho3, **TIGHT).fit(X, Y)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))
    ref = cp.Problem(cp.Minimize(loss + _cvx_penalty(W, rho1, rho2, rho3))).solve(solver="CLARABEL")
    Wn = est.coef_.T
    f = 0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2) + _tgl_penalty(Wn, rho1, rho2, rho3)
    assert abs(f - ref) <= 1e-4 * abs(ref)
    assert est.objective_path_[-1] == pytest.approx(f, rel=1e-9)


def test_temporal_smoothness_and_row_sparsity() -> None:
    X, Y = _data(seed=1)
    smooth = TGLRegressor(rho1=0.0, rho2=1e3, rho3=0.0, tol=1e-9, max_iter=5000).fit(X, Y)
    free = TGLRegressor(rho1=0.0, rho2=0.0, rho3=0.0, tol=1e-9).fit(X, Y)
    jumps = lambda est: np.sum(np.diff(est.coef_, axis=0) ** 2)  # noqa: E731 - coef_ rows are time points
    assert jumps(smooth) < 1e-2 * jumps(free)
    sparse = TGLRegressor(rho1=0.0, rho2=0.0, rho3=12.0, tol=1e-9).fit(X, Y)
    zero_rows = np.all(sparse.coef_ == 0.0, axis=0)  # a feature is dropped at every time point at once
    np.testing.assert_array_equal(zero_rows, [False, False, False, True, True, True])


def test_classifier_matches_cvxpy() -> None:
    rng = np.random.default_rng(2)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) > 0).astype(int)
    est = TGLClassifier(rho1=0.01, rho2=0.05, rho3=0.02, **TIGHT).fit(X, Y)
    S = 2.0 * Y - 1.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + _cvx_penalty(W, 0.01, 0.05, 0.02))).solve(solver="CLARABEL")
    Wn = est.coef_.T
    f = np.sum(np.logaddexp(0, -S * (X @ Wn + est.intercept_))) / n + _tgl_penalty(Wn, 0.01, 0.05, 0.02)
    assert abs(f - ref) <= 1e-4 * abs(ref)


@pytest.mark.parametrize("kwargs, match", [(dict(rho3=-1.0), "rho3"), (dict(rho2=np.inf), "rho2")])
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    X, Y = _data()
    with pytest.raises(ValueError, match=match):
        TGLRegressor(**kwargs).fit(X, Y)


def test_grid_search_cv() -> None:
    X, Y = _data(seed=3)
    check_grid_search(TGLRegressor(tol=1e-8), {"rho2": [0.1, 10.0], "rho3": [0.1, 30.0]}, X, Y)


def test_all_strengths_zero_converges_to_least_squares_without_warning() -> None:
    """No penalty at all: the dual of the norm terms certifies nothing, so the fit stops on its KKT
    residual, silently, at the least-squares solution."""
    X, Y = _data(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        free = TGLRegressor(rho1=0.0, rho2=0.0, rho3=0.0, tol=1e-9, max_iter=20000).fit(X, Y)
    assert free.gap_ <= 1e-9
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    np.testing.assert_allclose(free.coef_, np.linalg.lstsq(Xc, Yc, rcond=None)[0].T, atol=1e-6)
