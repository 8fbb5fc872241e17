"""Convex clustered MTL (CMTL): optimum against a cvxpy SDP, the closed-form M, special cases, errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from tests.classic._grid import check_grid_search

from multitask.classic._spectral import cluster_matrix, cluster_penalty, cluster_weights
from multitask.classic.cmtl import CMTLClassifier, CMTLRegressor

TIGHT = dict(tol=1e-11, stop="obj_change", max_iter=20000)


def _data(seed: int = 0, n: int = 25, d: int = 4, T: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T))
    return X, Y


def _cmtl_value(W: np.ndarray, M: np.ndarray, rho1: float, rho2: float) -> float:
    eta = rho2 / rho1
    return rho1 * eta * (1 + eta) * float(np.trace(W @ np.linalg.solve(eta * np.eye(M.shape[0]) + M, W.T)))


def test_cluster_weights_hand_worked() -> None:
    # σ = (2, 1.5), η = 1, k = 1: mᵢ = σᵢu − η with 3.5u − 2 = 1, u = 6/7 -> m = (5/7, 2/7)
    m = cluster_weights(np.array([2.0, 1.5]), 1.0, 1.0)
    np.testing.assert_allclose(m, [5 / 7, 2 / 7], atol=1e-12)
    # both capped: σ = (3, 0) (one zero singular value takes the rest of the trace)
    np.testing.assert_allclose(cluster_weights(np.array([3.0, 0.0, 0.0]), 0.5, 2.0), [1.0, 0.5, 0.5])


@pytest.mark.parametrize("eta, k", [(0.3, 1.0), (2.0, 2.5), (0.05, 3.0)])
@pytest.mark.parametrize("sigma", [[3.0, 2.0, 1.2, 0.4, 0.1], [2.0, 2.0, 1.0, 1.0, 0.5]])  # distinct, tied
def test_cluster_weights_against_cvxpy(eta: float, k: float, sigma: list) -> None:
    sigma = np.array(sigma)
    m = cluster_weights(sigma, eta, k)
    assert abs(m.sum() - k) <= 1e-12  # the breakpoint search solves the piece exactly
    mv = cp.Variable(5)
    obj = cp.sum(cp.multiply(sigma**2, cp.inv_pos(eta + mv)))
    ref = cp.Problem(cp.Minimize(obj), [mv >= 0, mv <= 1, cp.sum(mv) == k]).solve(solver="CLARABEL")
    assert m.sum() == pytest.approx(k) and m.min() >= 0 and m.max() <= 1
    assert np.sum(sigma**2 / (eta + m)) == pytest.approx(ref, rel=1e-7)


def test_cluster_penalty_gradient_matches_finite_differences() -> None:
    W = np.random.default_rng(1).normal(size=(3, 4))
    value, grad, m = cluster_penalty(W, 0.7, 2.0, 4)
    M = cluster_matrix(W, 0.7, 2.0)
    assert np.trace(M) == pytest.approx(2.0) and np.sort(np.linalg.eigvalsh(M)) == pytest.approx(np.sort(m))
    assert value == pytest.approx(np.trace(W @ np.linalg.solve(0.7 * np.eye(4) + M, W.T)))
    E = np.random.default_rng(2).normal(size=W.shape)
    h = 1e-6
    fd = (cluster_penalty(W + h * E, 0.7, 2.0, 4)[0] - cluster_penalty(W - h * E, 0.7, 2.0, 4)[0]) / (2 * h)
    assert np.sum(grad * E) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("rho1, rho2, k", [(2.0, 0.5, 2), (1.0, 3.0, 1), (5.0, 0.2, 4)])
def test_regressor_matches_cvxpy_sdp(rho1: float, rho2: float, k: int) -> None:
    X, Y = _data()
    n, d = X.shape
    T = Y.shape[1]
    est = CMTLRegressor(rho1=rho1, rho2=rho2, k=k, **TIGHT).fit(X, Y)
    eta = rho2 / rho1
    W, c = cp.Variable((d, T)), cp.Variable(T)
    M = cp.Variable((T, T), symmetric=True)
    loss = 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))
    obj = loss + rho1 * eta * (1 + eta) * cp.matrix_frac(W.T, eta * np.eye(T) + M)
    cons = [M >> 0, np.eye(T) - M >> 0, cp.trace(M) == k]
    ref = cp.Problem(cp.Minimize(obj), cons).solve(solver="CLARABEL")
    Wn = est.coef_.T
    f = 0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2) + _cmtl_value(Wn, est.M_, rho1, rho2)
    assert abs(f - ref) <= 1e-4 * abs(ref)
    # M_ is feasible and the reported objective is the objective at (coef_, M_)
    ev = np.linalg.eigvalsh(est.M_)
    assert np.trace(est.M_) == pytest.approx(k) and ev.min() > -1e-10 and ev.max() < 1 + 1e-10
    assert est.objective_path_[-1] == pytest.approx(f, rel=1e-9)


def test_k_equal_T_is_ridge_with_rho2() -> None:
    X, Y = _data(seed=3)
    T = Y.shape[1]
    est = CMTLRegressor(rho1=2.0, rho2=0.7, k=T, tol=1e-12, stop="iterate_change", max_iter=20000).fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    W_ridge = np.linalg.solve(Xc.T @ Xc + 2 * 0.7 * np.eye(X.shape[1]), Xc.T @ Yc)
    np.testing.assert_allclose(est.coef_.T, W_ridge, atol=1e-6)
    np.testing.assert_allclose(est.M_, np.eye(T), atol=1e-10)


def test_clusters_are_recovered_in_M() -> None:
    rng = np.random.default_rng(4)
    n, d = 60, 6
    centres = rng.normal(size=(d, 2)) * 3
    W_true = centres[:, [0, 0, 0, 1, 1, 1]] + 0.05 * rng.normal(size=(d, 6))
    X = rng.normal(size=(n, d))
    Y = X @ W_true + 0.1 * rng.normal(size=(n, 6))
    est = CMTLRegressor(rho1=50.0, rho2=0.5, k=2, tol=1e-9).fit(X, Y)
    M = est.M_
    within = np.mean([M[i, j] for i in range(6) for j in range(6) if i != j and (i < 3) == (j < 3)])
    across = np.mean([M[i, j] for i in range(3) for j in range(3, 6)])
    assert within > 0.25 and abs(across) < 0.05  # ≈ FFᵀ with F the normalised cluster indicator (1/3)


def test_classifier_matches_cvxpy_sdp() -> None:
    rng = np.random.default_rng(5)
    n, d, T = 40, 3, 3
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) > 0).astype(int)
    est = CMTLClassifier(rho1=0.05, rho2=0.02, k=1, **TIGHT).fit(X, Y)
    eta = 0.02 / 0.05
    S = 2.0 * Y - 1.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    M = cp.Variable((T, T), symmetric=True)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    obj = loss + 0.05 * eta * (1 + eta) * cp.matrix_frac(W.T, eta * np.eye(T) + M)
    ref = cp.Problem(cp.Minimize(obj), [M >> 0, np.eye(T) - M >> 0, cp.trace(M) == 1]).solve(
        solver="CLARABEL"
    )
    Wn = est.coef_.T
    f = np.sum(np.logaddexp(0, -S * (X @ Wn + est.intercept_))) / n + _cmtl_value(Wn, est.M_, 0.05, 0.02)
    assert abs(f - ref) <= 1e-4 * abs(ref)


@pytest.mark.parametrize(
    "kwargs, match", [(dict(k=6), "k must be at most"), (dict(rho1=0.0), "rho1 and rho2"), (dict(k=-1), "k")]
)
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    X, Y = _data()  # 5 tasks
    with pytest.raises(ValueError, match=match):
        CMTLRegressor(**kwargs).fit(X, Y)


def test_grid_search_cv() -> None:
    X, Y = _data(seed=6, n=30)
    check_grid_search(CMTLRegressor(tol=1e-8), {"rho1": [0.1, 30.0], "k": [1, 3]}, X, Y)
