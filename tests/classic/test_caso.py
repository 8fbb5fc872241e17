"""Convex ASO (cASO): optimum against a cvxpy SDP, the feature-space M, special cases, errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from tests.classic._grid import check_grid_search

from multitask.classic.caso import CASOClassifier, CASORegressor

TIGHT = dict(tol=1e-11, stop="obj_change", max_iter=20000)


def _data(seed: int = 0, n: int = 25, d: int = 5, T: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T))
    return X, Y


def _caso_value(W: np.ndarray, M: np.ndarray, rho1: float, rho2: float) -> float:
    eta = rho2 / rho1
    return rho1 * eta * (1 + eta) * float(np.trace(W.T @ np.linalg.solve(eta * np.eye(M.shape[0]) + M, W)))


@pytest.mark.parametrize("rho1, rho2, k", [(2.0, 0.5, 2), (1.0, 3.0, 1), (8.0, 0.1, 4)])
def test_regressor_matches_cvxpy_sdp(rho1: float, rho2: float, k: int) -> None:
    X, Y = _data()
    n, d = X.shape
    T = Y.shape[1]
    est = CASORegressor(rho1=rho1, rho2=rho2, k=k, **TIGHT).fit(X, Y)
    eta = rho2 / rho1
    W, c = cp.Variable((d, T)), cp.Variable(T)
    M = cp.Variable((d, d), symmetric=True)
    loss = 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))
    obj = loss + rho1 * eta * (1 + eta) * cp.matrix_frac(W, eta * np.eye(d) + M)
    cons = [M >> 0, np.eye(d) - M >> 0, cp.trace(M) == k]
    ref = cp.Problem(cp.Minimize(obj), cons).solve(solver="CLARABEL")
    Wn = est.coef_.T
    f = 0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2) + _caso_value(Wn, est.M_, rho1, rho2)
    assert abs(f - ref) <= 1e-4 * abs(ref)
    assert est.M_.shape == (d, d)
    ev = np.linalg.eigvalsh(est.M_)
    assert np.trace(est.M_) == pytest.approx(k) and ev.min() > -1e-10 and ev.max() < 1 + 1e-10
    assert est.objective_path_[-1] == pytest.approx(f, rel=1e-9)


def test_k_equal_d_is_ridge_with_rho2() -> None:
    X, Y = _data(seed=1)
    d = X.shape[1]
    est = CASORegressor(rho1=3.0, rho2=0.4, k=d, tol=1e-12, stop="iterate_change", max_iter=20000).fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    W_ridge = np.linalg.solve(Xc.T @ Xc + 2 * 0.4 * np.eye(d), Xc.T @ Yc)
    np.testing.assert_allclose(est.coef_.T, W_ridge, atol=1e-6)


def test_shared_subspace_is_found() -> None:
    rng = np.random.default_rng(2)
    n, d, T = 80, 6, 8
    basis = np.linalg.qr(rng.normal(size=(d, 1)))[0]  # tasks share a 1-D feature subspace
    W_true = basis @ rng.normal(size=(1, T)) * 3
    X = rng.normal(size=(n, d))
    Y = X @ W_true + 0.1 * rng.normal(size=(n, T))
    est = CASORegressor(rho1=30.0, rho2=0.3, k=1, tol=1e-9).fit(X, Y)
    lam, V = np.linalg.eigh(est.M_)
    assert lam[-1] > 0.95  # M ≈ ΘᵀΘ: one eigenvalue near 1 ...
    assert abs(float(V[:, -1] @ basis[:, 0])) > 0.99  # ... along the shared direction


def test_classifier_matches_cvxpy_sdp() -> None:
    rng = np.random.default_rng(3)
    n, d, T = 40, 3, 3
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) > 0).astype(int)
    est = CASOClassifier(rho1=0.05, rho2=0.02, k=1, **TIGHT).fit(X, Y)
    eta = 0.02 / 0.05
    S = 2.0 * Y - 1.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    M = cp.Variable((d, d), symmetric=True)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    obj = loss + 0.05 * eta * (1 + eta) * cp.matrix_frac(W, eta * np.eye(d) + M)
    ref = cp.Problem(cp.Minimize(obj), [M >> 0, np.eye(d) - M >> 0, cp.trace(M) == 1]).solve(
        solver="CLARABEL"
    )
    Wn = est.coef_.T
    f = np.sum(np.logaddexp(0, -S * (X @ Wn + est.intercept_))) / n + _caso_value(Wn, est.M_, 0.05, 0.02)
    assert abs(f - ref) <= 1e-4 * abs(ref)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(k=6), "number of features"), (dict(rho2=0.0), "rho1 and rho2"), (dict(k="2"), "k")],
)
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    X, Y = _data()  # 5 features
    with pytest.raises((ValueError, TypeError), match=match):
        CASORegressor(**kwargs).fit(X, Y)


def test_grid_search_cv() -> None:
    X, Y = _data(seed=4, n=30)
    check_grid_search(CASORegressor(tol=1e-8), {"rho1": [0.1, 30.0], "k": [1, 3]}, X, Y)
