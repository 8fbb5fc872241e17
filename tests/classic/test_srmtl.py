"""SRMTL (graph / mean-regularised MTL): optimum against cvxpy, structure matrices, errors, GridSearchCV."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from tests.classic._grid import check_grid_search

from multitask.classic._task_structure import (
    graph_laplacian,
    mean_structure,
    structure_gram,
    temporal_difference,
)
from multitask.classic.srmtl import SRMTLClassifier, SRMTLRegressor

TIGHT = dict(tol=1e-11, stop="obj_change", max_iter=20000)


def _data(seed: int = 0, n: int = 24, d: int = 5, T: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(d, T)) + 0.5 * rng.normal(size=(n, T))
    return X, Y


def _ls(X: np.ndarray, Y: np.ndarray, W: cp.Variable, c: cp.Variable) -> cp.Expression:
    n, T = Y.shape
    return 0.5 * cp.sum_squares(Y - X @ W - np.ones((n, 1)) @ cp.reshape(c, (1, T), order="C"))


def _assert_optimal(f_est: float, f_ref: float, rtol: float = 1e-4) -> None:
    assert abs(f_est - f_ref) <= rtol * abs(f_ref), (f_est, f_ref)


def _objective(est: SRMTLRegressor, X: np.ndarray, Y: np.ndarray, RRt: np.ndarray) -> float:
    W, c = est.coef_.T, est.intercept_
    return float(
        0.5 * np.sum((Y - X @ W - c) ** 2)
        + est.rho1 * np.trace(W @ RRt @ W.T)
        + est.rho_l2 * np.sum(W * W)
        + est.rho2 * np.abs(W).sum()
    )


def test_structure_matrices_hand_worked() -> None:
    np.testing.assert_allclose(mean_structure(2), [[0.5, -0.5], [-0.5, 0.5]])
    np.testing.assert_allclose(temporal_difference(3), [[1, 0], [-1, 1], [0, -1]])
    A = np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]], dtype=float)
    np.testing.assert_allclose(graph_laplacian(A, 3), [[2, -2, 0], [-2, 3, -1], [0, -1, 1]])
    # the Laplacian penalty is Σ_{s<t} A_st ‖w_s − w_t‖²
    W = np.random.default_rng(1).normal(size=(4, 3))
    direct = 2 * np.sum((W[:, 0] - W[:, 1]) ** 2) + np.sum((W[:, 1] - W[:, 2]) ** 2)
    assert np.trace(W @ graph_laplacian(A, 3) @ W.T) == pytest.approx(direct)
    H = temporal_difference(3)
    np.testing.assert_allclose(structure_gram(3, R=H), H @ H.T)


@pytest.mark.parametrize("rho1, rho2, rho_l2", [(2.0, 3.0, 0.0), (10.0, 0.5, 0.3)])
def test_mean_regularised_matches_cvxpy(rho1: float, rho2: float, rho_l2: float) -> None:
    X, Y = _data()
    T = Y.shape[1]
    est = SRMTLRegressor(rho1=rho1, rho2=rho2, rho_l2=rho_l2, **TIGHT).fit(X, Y)
    W, c = cp.Variable((X.shape[1], T)), cp.Variable(T)
    R = np.eye(T) - 1.0 / T
    obj = (
        _ls(X, Y, W, c) + rho1 * cp.sum_squares(W @ R) + rho_l2 * cp.sum_squares(W) + rho2 * cp.sum(cp.abs(W))
    )
    ref = cp.Problem(cp.Minimize(obj)).solve(solver="CLARABEL")
    f = _objective(est, X, Y, R)
    _assert_optimal(f, ref)
    assert est.objective_path_[-1] == pytest.approx(f, rel=1e-9)
    np.testing.assert_allclose(est.structure_gram_, R, atol=1e-12)


def test_graph_and_explicit_R_match_cvxpy() -> None:
    X, Y = _data(seed=2, T=4)
    A = np.array([[0, 1, 0, 0], [1, 0, 3, 0], [0, 3, 0, 0], [0, 0, 0, 0]], dtype=float)
    est = SRMTLRegressor(rho1=5.0, rho2=1.0, graph=A, **TIGHT).fit(X, Y)
    W, c = cp.Variable((X.shape[1], 4)), cp.Variable(4)
    pen = cp.sum_squares(W[:, 0] - W[:, 1]) + 3 * cp.sum_squares(W[:, 1] - W[:, 2])
    ref = cp.Problem(cp.Minimize(_ls(X, Y, W, c) + 5.0 * pen + cp.sum(cp.abs(W)))).solve(solver="CLARABEL")
    _assert_optimal(_objective(est, X, Y, graph_laplacian(A, 4)), ref)
    # the same problem given as MALSAR's structure matrix R (one column per edge, weights √A_st)
    R = np.zeros((4, 2))
    R[[0, 1], 0] = [1, -1]
    R[[1, 2], 1] = [np.sqrt(3), -np.sqrt(3)]
    est_R = SRMTLRegressor(rho1=5.0, rho2=1.0, R=R, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(est_R.coef_, est.coef_, atol=1e-6)


def test_per_task_rows_match_cvxpy() -> None:
    rng = np.random.default_rng(3)
    d, T = 4, 3
    task = np.repeat(np.arange(T), [7, 12, 9])
    X = rng.normal(size=(task.size, d))
    y = np.einsum("nd,nd->n", X, rng.normal(size=(T, d))[task]) + rng.normal(size=task.size)
    est = SRMTLRegressor(rho1=4.0, rho2=2.0, **TIGHT).fit(X, y, task=task)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    loss = sum(0.5 * cp.sum_squares(y[task == t] - X[task == t] @ W[:, t] - c[t]) for t in range(T))
    R = np.eye(T) - 1.0 / T
    ref = cp.Problem(cp.Minimize(loss + 4.0 * cp.sum_squares(W @ R) + 2.0 * cp.sum(cp.abs(W)))).solve(
        solver="CLARABEL"
    )
    Wn, cn = est.coef_.T, est.intercept_
    f = sum(0.5 * np.sum((y[task == t] - X[task == t] @ Wn[:, t] - cn[t]) ** 2) for t in range(T))
    f += 4.0 * np.sum((Wn @ R) ** 2) + 2.0 * np.abs(Wn).sum()
    _assert_optimal(f, ref)
    pred = est.predict(X, task=task)
    np.testing.assert_allclose(pred, np.einsum("nd,nd->n", X, est.coef_[task]) + est.intercept_[task])


def test_classifier_matches_cvxpy() -> None:
    rng = np.random.default_rng(4)
    n, d, T = 40, 4, 3
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) > 0).astype(int)
    est = SRMTLClassifier(rho1=0.05, rho2=0.02, **TIGHT).fit(X, Y)
    W, c = cp.Variable((d, T)), cp.Variable(T)
    S = 2.0 * Y - 1.0
    loss = sum(cp.sum(cp.logistic(-cp.multiply(S[:, t], X @ W[:, t] + c[t]))) / n for t in range(T))
    R = np.eye(T) - 1.0 / T
    ref = cp.Problem(cp.Minimize(loss + 0.05 * cp.sum_squares(W @ R) + 0.02 * cp.sum(cp.abs(W)))).solve(
        solver="CLARABEL"
    )
    Wn, cn = est.coef_.T, est.intercept_
    f = (
        np.sum(np.logaddexp(0, -S * (X @ Wn + cn))) / n
        + 0.05 * np.sum((Wn @ R) ** 2)
        + 0.02 * np.abs(Wn).sum()
    )
    _assert_optimal(f, ref)
    assert set(np.unique(est.predict(X))) <= {0, 1}


def test_strong_mean_regularisation_pulls_tasks_together() -> None:
    X, Y = _data(seed=5)
    loose = SRMTLRegressor(rho1=0.0, rho2=0.0, tol=1e-10).fit(X, Y)
    tight = SRMTLRegressor(rho1=1e3, rho2=0.0, tol=1e-10, max_iter=5000).fit(X, Y)
    spread = lambda W: np.sum((W - W.mean(axis=0)) ** 2)  # noqa: E731
    assert spread(tight.coef_) < 1e-3 * spread(loose.coef_)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(graph=np.ones((3, 3))), "graph"),  # 4 tasks, 3 x 3 graph
        (dict(graph=-np.ones((4, 4))), "non-negative"),
        (dict(graph=np.triu(np.ones((4, 4)), 1)), "symmetric"),
        (dict(R=np.ones((3, 2))), "R must have shape"),
        (dict(R=np.ones((4, 2)), graph=np.ones((4, 4))), "not both"),
        (dict(rho1=-1.0), "rho1"),
        (dict(rho2=np.nan), "rho2"),
    ],
)
def test_bad_input_raises(kwargs: dict, match: str) -> None:
    X, Y = _data(T=4)
    with pytest.raises(ValueError, match=match):
        SRMTLRegressor(**kwargs).fit(X, Y)


def test_unknown_task_at_predict_raises() -> None:
    X, Y = _data()
    est = SRMTLRegressor().fit(X, Y)
    with pytest.raises(ValueError, match="unknown task"):
        est.predict(X, task=7)


def test_grid_search_cv_selects_and_refits() -> None:
    X, Y = _data(seed=6, n=30)
    check_grid_search(SRMTLRegressor(tol=1e-8), {"rho1": [0.1, 10.0], "rho2": [0.1, 50.0]}, X, Y)
