"""Proximal operators and projections: hand-worked values and cvxpy brute force."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic._prox import (
    project_cmtl,
    project_cmtl_eigen,
    project_l1_ball,
    project_trace_ball,
    prox_l1,
    prox_l1inf_rows,
    prox_l21_cols,
    prox_l21_rows,
    prox_trace,
)

TIGHT = dict(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)


def _solve_prox(V: np.ndarray, penalty, constraints=None) -> np.ndarray:
    X = cp.Variable(V.shape)
    cons = constraints(X) if constraints else []
    obj = 0.5 * cp.sum_squares(X - V) + (penalty(X) if penalty else 0)
    cp.Problem(cp.Minimize(obj), cons).solve(**TIGHT)
    return X.value


@pytest.fixture
def V() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(5, 4)) * 2.0


def test_prox_l1_hand_values():
    V = np.array([[3.0, -0.5], [1.0, -2.0]])
    np.testing.assert_allclose(prox_l1(V, 1.0), [[2.0, 0.0], [0.0, -1.0]])
    np.testing.assert_allclose(prox_l1(V, 0.0), V)


def test_prox_l21_rows_hand_values():
    V = np.array([[3.0, 4.0], [0.3, 0.4]])  # row norms 5 and 0.5
    np.testing.assert_allclose(prox_l21_rows(V, 1.0), [[2.4, 3.2], [0.0, 0.0]])
    np.testing.assert_allclose(prox_l21_cols(V.T, 1.0), [[2.4, 0.0], [3.2, 0.0]])


def test_prox_trace_hand_values():
    np.testing.assert_allclose(prox_trace(np.diag([3.0, 1.0]), 2.0), np.diag([1.0, 0.0]), atol=1e-12)


def test_project_l1_ball_hand_values():
    np.testing.assert_allclose(project_l1_ball(np.array([3.0, 1.0]), 2.0), [2.0, 0.0])
    np.testing.assert_allclose(project_l1_ball(np.array([3.0, -2.0]), 3.0), [2.0, -1.0])
    inside = np.array([0.5, -0.2])
    np.testing.assert_allclose(project_l1_ball(inside, 1.0), inside)
    np.testing.assert_allclose(project_l1_ball(np.array([1.0, -1.0]), 0.0), [0.0, 0.0])
    rows = project_l1_ball(np.array([[3.0, 1.0], [0.5, -0.2]]), 2.0)
    np.testing.assert_allclose(rows, [[2.0, 0.0], [0.5, -0.2]])


@pytest.mark.parametrize("t", [0.3, 1.5])
def test_prox_l1_vs_cvxpy(V, t):
    np.testing.assert_allclose(prox_l1(V, t), _solve_prox(V, lambda X: t * cp.sum(cp.abs(X))), atol=1e-6)


@pytest.mark.parametrize("t", [0.5, 2.5])
def test_prox_l21_rows_vs_cvxpy(V, t):
    ref = _solve_prox(V, lambda X: t * cp.sum(cp.norm(X, 2, axis=1)))
    np.testing.assert_allclose(prox_l21_rows(V, t), ref, atol=1e-6)


@pytest.mark.parametrize("t", [0.5, 2.5])
def test_prox_l21_cols_vs_cvxpy(V, t):
    ref = _solve_prox(V, lambda X: t * cp.sum(cp.norm(X, 2, axis=0)))
    np.testing.assert_allclose(prox_l21_cols(V, t), ref, atol=1e-6)


@pytest.mark.parametrize("t", [0.5, 3.0])
def test_prox_trace_vs_cvxpy(V, t):
    out = prox_trace(V, t)
    ref = _solve_prox(V, lambda X: t * cp.normNuc(X))
    np.testing.assert_allclose(out, ref, atol=1e-6)
    s_in, s_out = np.linalg.svd(V, compute_uv=False), np.linalg.svd(out, compute_uv=False)
    np.testing.assert_allclose(s_out, np.maximum(s_in - t, 0.0), atol=1e-10)


@pytest.mark.parametrize("t", [0.4, 2.0, 50.0])
def test_prox_l1inf_rows_vs_cvxpy(V, t):
    ref = _solve_prox(V, lambda X: t * cp.sum(cp.max(cp.abs(X), axis=1)))
    np.testing.assert_allclose(prox_l1inf_rows(V, t), ref, atol=1e-6)


@pytest.mark.parametrize("r", [0.5, 3.0, 100.0])
def test_project_l1_ball_vs_cvxpy(r):
    v = np.random.default_rng(1).normal(size=9)
    x = cp.Variable(9)
    cp.Problem(cp.Minimize(cp.sum_squares(x - v)), [cp.norm1(x) <= r]).solve(**TIGHT)
    np.testing.assert_allclose(project_l1_ball(v, r), x.value, atol=1e-6)


@pytest.mark.parametrize("r", [0.5, 4.0])
def test_project_trace_ball_vs_cvxpy(V, r):
    ref = _solve_prox(V, None, lambda X: [cp.normNuc(X) <= r])
    out = project_trace_ball(V, r)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert np.linalg.svd(out, compute_uv=False).sum() <= r + 1e-9


def test_project_trace_ball_inside_is_identity(V):
    big = np.linalg.svd(V, compute_uv=False).sum() + 1.0
    np.testing.assert_allclose(project_trace_ball(V, big), V)


def test_project_cmtl_eigen_hand_values():
    np.testing.assert_allclose(project_cmtl_eigen([2.0, 0.5, -1.0], 1), [1.0, 0.0, 0.0], atol=1e-12)
    # free set {0.9, 0.8}: (0.9 − θ) + (0.8 − θ) = 1  =>  θ = 0.35
    np.testing.assert_allclose(project_cmtl_eigen([0.9, 0.8, 0.1], 1), [0.55, 0.45, 0.0], atol=1e-12)
    np.testing.assert_allclose(project_cmtl_eigen([5.0, 4.0], 2), [1.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("k", [1, 2.5])
def test_project_cmtl_eigen_vs_cvxpy(k):
    lam = np.random.default_rng(2).normal(size=6)
    m = cp.Variable(6)
    cons = [m >= 0, m <= 1, cp.sum(m) == k]
    cp.Problem(cp.Minimize(cp.sum_squares(m - lam)), cons).solve(**TIGHT)
    out = project_cmtl_eigen(lam, k)
    np.testing.assert_allclose(out, m.value, atol=1e-6)
    assert abs(out.sum() - k) < 1e-10


def test_project_cmtl_matrix_vs_cvxpy():
    A = np.random.default_rng(3).normal(size=(4, 4))
    M0 = A + A.T
    M = cp.Variable((4, 4), symmetric=True)
    cons = [M >> 0, np.eye(4) - M >> 0, cp.trace(M) == 2]
    cp.Problem(cp.Minimize(cp.sum_squares(M - M0)), cons).solve(**TIGHT)
    np.testing.assert_allclose(project_cmtl(M0, 2), M.value, atol=1e-5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="non-negative"):
        prox_l1(np.ones(2), -1.0)
    with pytest.raises(ValueError, match="r must be non-negative"):
        project_l1_ball(np.ones(2), -1.0)
    with pytest.raises(ValueError, match="k must lie"):
        project_cmtl_eigen([0.1, 0.2], 3)
    with pytest.raises(ValueError, match="2-D"):
        prox_trace(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="square"):
        project_cmtl(np.ones((2, 3)), 1)


def test_inputs_not_modified(V):
    V0 = V.copy()
    for f in (prox_l1, prox_l21_rows, prox_l21_cols, prox_trace, prox_l1inf_rows, project_trace_ball):
        f(V, 0.7)
    np.testing.assert_array_equal(V, V0)


@pytest.mark.parametrize("rank_above", [3, 40, 130])
def test_prox_trace_partial_svd_equals_the_full_svd(rank_above: int) -> None:
    """Both sides >= PARTIAL_SVD_MIN: the leading-triplet path (low rank above t) and its fall-back to the
    full SVD (high rank) give the full-SVD prox."""
    from multitask.classic import _prox

    rng = np.random.default_rng(rank_above)
    A = rng.standard_normal((260, 12)) @ rng.standard_normal((12, 230))
    A += 0.3 * rng.standard_normal((260, 230))
    s = np.linalg.svd(A, compute_uv=False)
    t = (s[rank_above - 1] + s[rank_above]) / 2
    U, _, Vt = np.linalg.svd(A, full_matrices=False)
    want = (U[:, :rank_above] * (s[:rank_above] - t)) @ Vt[:rank_above]
    got = _prox.prox_trace(A, t)
    assert (_prox._prox_trace_partial(A, t) is None) == (rank_above > 115)  # which path ran
    assert np.linalg.matrix_rank(got, tol=1e-8) == rank_above
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert np.array_equal(_prox.prox_trace(A, t), got)  # deterministic
    np.testing.assert_allclose(_prox.prox_trace(A, s[0] + 1.0), 0.0)  # everything thresholded away
