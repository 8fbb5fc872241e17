"""Multi-stage MTFL (capped-ℓ1,ℓ1): every stage is the weighted-lasso optimum (cvxpy), the stage weights
follow the capped rule, the objective never increases, errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic.msmtfl import MSMTFLClassifier, MSMTFLRegressor, capped_l1_objective

TIGHT = dict(tol=1e-12, stop="obj_change", max_iter=20000)


def _data(seed: int = 0, n: int = 30, d: int = 6, T: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, T)) * np.array([3.0, 2.0, 0.6, 0.0, 0.0, 0.0])[:, None]
    return X, X @ W + 0.5 * rng.normal(size=(n, T))


def _weighted_lasso_optimum(X: np.ndarray, Y: np.ndarray, weights: np.ndarray) -> float:
    """MALSAR's stage problem min ‖XW + 1cᵀ − Y‖²_F + Σⱼ λⱼ‖Wⱼ,:‖₁ (no ½ factor)."""
    n, d = X.shape
    T = Y.shape[1]
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))
    return cp.Problem(cp.Minimize(loss + cp.sum(cp.abs(W).T @ weights))).solve(solver="CLARABEL")


def test_capped_objective_hand_worked() -> None:
    W = np.array([[1.0, -2.0], [0.5, 0.0]])  # row ℓ1 norms 3 and 0.5
    assert capped_l1_objective(10.0, W, lambda1=2.0, theta=1.0) == pytest.approx(10.0 + 2.0 * (1.0 + 0.5))


def test_stages_solve_weighted_lassos_and_decrease_the_objective() -> None:
    X, Y = _data()
    lam, theta = 20.0, 2.0
    est = MSMTFLRegressor(lambda1=lam, theta=theta, **TIGHT).fit(X, Y)
    assert est.n_stages_ >= 2
    np.testing.assert_array_equal(est.stage_weights_[0], np.full(X.shape[1], lam))  # stage 1 is the lasso
    # re-run stage by stage with max_stages = s to check each stage's solution and the next weights
    for s in range(1, est.n_stages_ + 1):
        part = MSMTFLRegressor(lambda1=lam, theta=theta, max_stages=s, **TIGHT).fit(X, Y)
        W, c = part.coef_.T, part.intercept_
        stage_value = np.sum((Y - X @ W - c) ** 2) + np.sum(part.stage_weights_[-1][:, None] * np.abs(W))
        ref = _weighted_lasso_optimum(X, Y, part.stage_weights_[-1])
        assert abs(stage_value - ref) <= 1e-4 * ref
        if s < est.n_stages_:
            expected = lam * (np.abs(W).sum(axis=1) < theta)
            np.testing.assert_array_equal(est.stage_weights_[s], expected)
        capped = np.sum((Y - X @ W - c) ** 2) + lam * np.minimum(np.abs(W).sum(axis=1), theta).sum()
        assert part.objective_path_[-1] == pytest.approx(capped, rel=1e-9)
    path = est.objective_path_
    assert np.all(np.diff(path) <= 1e-9 * path[0])
    assert path[-1] < path[0]  # the capped penalty stops shrinking the large rows
    # the last stage's weights reproduce themselves (converged)
    last = est.coef_.T
    np.testing.assert_array_equal(lam * (np.abs(last).sum(axis=1) < theta), est.stage_weights_[-1])


def test_large_theta_is_the_lasso() -> None:
    X, Y = _data(seed=1)
    est = MSMTFLRegressor(lambda1=10.0, theta=1e6, **TIGHT).fit(X, Y)
    assert est.n_stages_ == 1
    W, c = est.coef_.T, est.intercept_
    value = np.sum((Y - X @ W - c) ** 2) + 10.0 * np.abs(W).sum()
    ref = _weighted_lasso_optimum(X, Y, np.full(X.shape[1], 10.0))
    assert abs(value - ref) <= 1e-4 * ref


def test_classifier_stage_one_matches_cvxpy_and_decreases() -> None:
    rng = np.random.default_rng(2)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, T)) + rng.normal(size=(n, T)) > 0).astype(int)
    one = MSMTFLClassifier(lambda1=0.05, theta=0.5, max_stages=1, **TIGHT).fit(X, Y)
    S = 2.0 * Y - 1.0
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + 0.05 * cp.sum(cp.abs(W)))).solve(solver="CLARABEL")
    Wn = one.coef_.T
    f = np.sum(np.logaddexp(0, -S * (X @ Wn + one.intercept_))) / n + 0.05 * np.abs(Wn).sum()
    assert abs(f - ref) <= 1e-4 * ref
    full = MSMTFLClassifier(lambda1=0.05, theta=0.5, tol=1e-10, stop="obj_change", max_iter=5000).fit(X, Y)
    assert full.n_stages_ >= 2
    assert np.all(np.diff(full.objective_path_) <= 1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(theta=0.0), "theta"), (dict(lambda1=-1.0), "lambda1"), (dict(max_stages=0), "max_stages")],
)
def test_bad_parameters_raise(kwargs: dict, match: str) -> None:
    X, Y = _data()
    with pytest.raises(ValueError, match=match):
        MSMTFLRegressor(**kwargs).fit(X, Y)
