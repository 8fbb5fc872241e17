"""MTRL (Zhang & Yeung): W-step against a dense Kronecker solve, the closed-form Ω-step, monotone
objective of the alternating solver, the optimum of the convex problem (cvxpy) by both solvers, per-task
rows, errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic.mtfl import task_grams
from multitask.classic.mtrl import MTRLRegressor, mtrl_omega_step, mtrl_w_step


def _data(seed: int = 0, n: int = 30, d: int = 5, T: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(d, 2)) @ rng.normal(size=(2, T)) + 0.5 * rng.normal(size=(n, T))
    return X, Y


def test_w_step_matches_dense_kronecker_solve() -> None:
    rng = np.random.default_rng(1)
    d, T = 3, 4
    Xs = [rng.normal(size=(n, d)) for n in (5, 8, 2, 6)]
    ys = [rng.normal(size=X.shape[0]) for X in Xs]
    G, B = task_grams(Xs, ys)
    C = rng.normal(size=(T, T))
    A = C @ C.T + 0.5 * np.eye(T)
    W = mtrl_w_step(G, B, A)
    # vec(W) (column-major): (blockdiag(Gₜ) + A ⊗ I_d) vec(W) = vec(B)
    K = np.kron(A, np.eye(d))
    for t in range(T):
        K[t * d : (t + 1) * d, t * d : (t + 1) * d] += G[t]
    expected = np.linalg.solve(K, B.T.ravel()).reshape(T, d).T
    np.testing.assert_allclose(W, expected, rtol=1e-8, atol=1e-10)


def test_omega_step_closed_form_is_optimal() -> None:
    rng = np.random.default_rng(2)
    W = rng.normal(size=(5, 3))
    eps = 1e-3
    Om = mtrl_omega_step(W, eps)
    C = W.T @ W + eps * np.eye(3)
    assert np.trace(Om) == pytest.approx(1.0)
    best = np.trace(np.linalg.solve(Om, C))
    assert best == pytest.approx(np.sum(np.sqrt(np.linalg.eigvalsh(C))) ** 2)
    for _ in range(20):
        B = rng.normal(size=(3, 3))
        other = Om + 0.05 * (B @ B.T) / np.trace(B @ B.T)
        other /= np.trace(other)
        assert np.trace(np.linalg.solve(other, C)) >= best - 1e-12


@pytest.mark.parametrize("solver", ["alternating", "proximal"])
@pytest.mark.parametrize("lambda1, lambda2", [(0.5, 3.0), (2.0, 20.0)])
def test_reaches_the_optimum_and_decreases(lambda1: float, lambda2: float, solver: str) -> None:
    X, Y = _data()
    n, d = X.shape
    T = Y.shape[1]
    eps = 1e-2
    if solver == "alternating":
        est = MTRLRegressor(lambda1, lambda2, eps, tol=1e-13, stop="obj_change", max_iter=5000,
                            solver=solver).fit(X, Y)
        assert np.all(np.diff(est.objective_path_) <= 1e-12 * est.objective_path_[0])
    else:
        est = MTRLRegressor(lambda1, lambda2, eps, tol=1e-10).fit(X, Y)
        assert est.gap_ <= 1e-10
    path = est.objective_path_
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))
    aug = cp.vstack([W, np.sqrt(eps) * np.eye(T)])  # singular values √(σᵢ² + ε)
    obj = loss + lambda1 / 2 * cp.sum_squares(W) + lambda2 / 2 * cp.square(cp.normNuc(aug))
    ref = cp.Problem(cp.Minimize(obj)).solve(solver="CLARABEL")
    Wn = est.coef_.T
    C = Wn.T @ Wn + eps * np.eye(T)
    f = (
        0.5 * np.sum((Y - X @ Wn - est.intercept_) ** 2)
        + lambda1 / 2 * np.sum(Wn**2)
        + lambda2 / 2 * np.trace(np.linalg.solve(est.Omega_, C))
    )
    assert abs(f - ref) <= 1e-4 * ref
    assert path[-1] == pytest.approx(f, rel=1e-9)
    assert np.trace(est.Omega_) == pytest.approx(1.0)
    np.testing.assert_allclose(np.diag(est.task_correlation_), 1.0)


def test_per_task_rows_and_negative_correlation() -> None:
    rng = np.random.default_rng(3)
    d = 4
    w = rng.normal(size=d) * 2
    task = np.repeat(np.arange(3), [15, 25, 20])
    X = rng.normal(size=(task.size, d))
    W_true = np.stack([w, -w, w], axis=1)  # task 1 anti-correlated with tasks 0 and 2
    y = np.einsum("nd,nd->n", X, W_true.T[task]) + 0.3 * rng.normal(size=task.size)
    est = MTRLRegressor(lambda1=0.1, lambda2=5.0, epsilon=1e-4, tol=1e-10).fit(X, y, task=task)
    R = est.task_correlation_
    assert R[0, 1] < -0.9 and R[1, 2] < -0.9 and R[0, 2] > 0.9
    W, c = cp.Variable((d, 3)), cp.Variable(3)
    loss = sum(0.5 * cp.sum_squares(y[task == t] - X[task == t] @ W[:, t] - c[t]) for t in range(3))
    aug = cp.vstack([W, np.sqrt(1e-4) * np.eye(3)])
    ref = cp.Problem(cp.Minimize(loss + 0.05 * cp.sum_squares(W) + 2.5 * cp.square(cp.normNuc(aug))))
    ref.solve(solver="CLARABEL")
    assert abs(est.objective_path_[-1] - ref.value) <= 1e-4 * ref.value


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epsilon=-1.0), "epsilon"),
        (dict(lambda2="a"), "lambda2"),
        (dict(lambda1=-2), "lambda1"),
        (dict(solver="newton"), "solver"),
    ],
)
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    X, Y = _data()
    with pytest.raises((ValueError, TypeError), match=match):
        MTRLRegressor(**kwargs).fit(X, Y)
