"""The relative duality gap ``gap_`` and ``stop="gap"``: the gap bounds the true suboptimality (against
cvxpy), certified stopping reaches the tolerance, non-convergence warns, hand value on a scalar problem."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from multitask.classic import (
    CFGLassoRegressor,
    CMTLRegressor,
    DirtyRegressor,
    L21Classifier,
    L21Regressor,
    LassoRegressor,
    MTFLRegressor,
    MTRLRegressor,
    RMTFLRegressor,
    RMTLRegressor,
    SparseTraceRegressor,
    SRMTLRegressor,
    TGLRegressor,
    TraceRegressor,
)
from multitask.classic._losses import relative_gap


def _data(seed: int = 0, n: int = 30, d: int = 6, T: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 1)) @ rng.normal(size=(1, T)) + 0.3 * rng.normal(size=(d, T))
    return X, X @ W + 0.5 * rng.normal(size=(n, T))


def _l21(A):
    return cp.sum(cp.norm(A, 2, axis=1))


def _cols(A):
    return cp.sum(cp.norm(A, 2, axis=0))


def _l1inf(A):
    return cp.sum(cp.max(cp.abs(A), axis=1))


# estimator, its penalty on (P, Q) cvxpy variables, constraints (Q = 0 for the one-part models)
ONE = lambda P, Q: [Q == 0]  # noqa: E731
NONE = lambda P, Q: []  # noqa: E731
CASES = {
    "lasso": (LassoRegressor(rho1=8.0), lambda P, Q: 8.0 * cp.sum(cp.abs(P)), ONE),
    "l21_ridge": (L21Regressor(rho1=8.0, rho_l2=0.5), lambda P, Q: 8 * _l21(P) + cp.sum_squares(P) / 2, ONE),
    "trace": (TraceRegressor(rho1=10.0), lambda P, Q: 10.0 * cp.normNuc(P), ONE),
    "dirty": (
        DirtyRegressor(lambda1=20.0, lambda2=6.0),
        lambda P, Q: 20.0 * _l1inf(P) + 6.0 * cp.sum(cp.abs(Q)),
        lambda P, Q: [],
    ),
    "rmtfl": (RMTFLRegressor(lambda1=8.0, lambda2=8.0), lambda P, Q: 8 * _l21(P) + 8 * _cols(Q), NONE),
    "rmtl": (RMTLRegressor(rho1=10.0, rho2=12.0), lambda P, Q: 10 * cp.normNuc(P) + 12 * _cols(Q), NONE),
    "sparse_trace": (
        SparseTraceRegressor(rho1=5.0, rho2=2.0),
        lambda P, Q: 5.0 * cp.sum(cp.abs(P)),
        lambda P, Q: [cp.normNuc(Q) <= 2.0],
    ),
}
EXACT = dict(solver=cp.CLARABEL, tol_gap_rel=1e-12, tol_feas=1e-12)


def _optimum(X, Y, pen, cons) -> float:
    d, T = X.shape[1], Y.shape[1]
    P, Q = cp.Variable((d, T)), cp.Variable((d, T))
    obj = 0.5 * cp.sum_squares(Y - X @ (P + Q)) + pen(P, Q)
    return cp.Problem(cp.Minimize(obj), cons(P, Q)).solve(**EXACT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gap_bounds_the_suboptimality_and_stop_gap_certifies(name):
    est, pen, cons = CASES[name]
    X, Y = _data()
    ref = _optimum(X, Y, pen, cons)
    for max_iter in (3, 20):  # loose fits: the gap must still bound the suboptimality
        loose = est.set_params(fit_intercept=False, max_iter=max_iter, stop="rel_change", tol=0.0)
        with pytest.warns(ConvergenceWarning):
            loose.fit(X, Y)
        primal = loose.objective_path_[-1]
        assert loose.gap_ >= (primal - ref) / primal - 1e-9
    tight = est.set_params(stop="gap", tol=1e-7, max_iter=20000).fit(X, Y)
    assert tight.gap_ <= 1e-7
    assert (tight.objective_path_[-1] - ref) / ref <= 1e-7 + 1e-9


def test_gap_with_intercepts_is_the_gap_of_the_joint_problem():
    X, Y = _data(seed=1)
    Y = Y + np.array([1.0, -2.0, 3.0, 0.5])
    X = X + 0.7
    m = L21Regressor(rho1=8.0, stop="gap", tol=1e-7, max_iter=20000).fit(X, Y)
    d, T = X.shape[1], Y.shape[1]
    W, c = cp.Variable((d, T)), cp.Variable(T)
    obj = 0.5 * cp.sum_squares(Y - X @ W - np.ones((X.shape[0], 1)) @ cp.reshape(c, (1, T))) + 8.0 * _l21(W)
    ref = cp.Problem(cp.Minimize(obj)).solve(**EXACT)
    W_ours = m.coef_.T
    ours = 0.5 * np.sum((Y - X @ W_ours - m.intercept_) ** 2) + 8.0 * np.linalg.norm(W_ours, axis=1).sum()
    assert m.gap_ <= 1e-7 and (ours - ref) / ours <= 1e-7 + 1e-10


def test_gap_hand_value_on_a_scalar_lasso():
    # min ½(2w − 3)² + s|w|: w = 0 is optimal iff s ≥ |xᵀy| = 6; there the dual point θ = −y is feasible
    X, y = np.array([[2.0]]), np.array([3.0])
    at_zero = LassoRegressor(rho1=7.0, fit_intercept=False, max_iter=1).fit(X, y)
    assert at_zero.coef_[0, 0] == 0.0 and at_zero.gap_ == pytest.approx(0.0, abs=1e-15)
    # s = 2: optimum w = (6 − 2)/4 = 1, P* = ½ + 2 = 2.5; at w = 0, P = 4.5, α_max = 2/6 and
    # D(α) = −4.5α² + 9α is increasing on [0, 1/3]: D = 2.5, gap = (4.5 − 2.5)/4.5
    gap_at_zero = LassoRegressor(rho1=2.0, fit_intercept=False)._problem  # the gap of the composite problem
    from multitask.classic._losses import least_squares

    problem = gap_at_zero(least_squares([X], [y]))
    assert problem.gap((np.zeros((1, 1)),), np.zeros(1)) == pytest.approx(2.0 / 4.5)


@pytest.mark.parametrize("eps", [1e-8, 1e-2])
def test_alternating_gap_bounds_the_suboptimality(eps):
    """MTFL and MTRL with ``solver="alternating"``: the relative duality gap of the ε-problem (minimised
    over D / Ω) bounds the true relative suboptimality against cvxpy at every stage of the alternation, and
    vanishes at the solution when the scheme converges (ε = 1e-2; with ε = 1e-8 the alternation creeps,
    the gap then says so). The default certified solver: tests/classic/test_alternating.py."""
    X, Y = _data()
    d, T = X.shape[1], Y.shape[1]
    W = cp.Variable((d, T))
    mtfl = 2.0 * cp.square(cp.normNuc(cp.hstack([W, np.sqrt(eps) * np.eye(d)])))  # (tr (WWᵀ + εI)^½)²
    mtrl = 1.5 * cp.sum_squares(W) + 2.5 * cp.square(cp.normNuc(cp.vstack([W, np.sqrt(eps) * np.eye(T)])))
    for est, pen in ((MTFLRegressor(gamma=2.0), mtfl), (MTRLRegressor(lambda1=3.0, lambda2=5.0), mtrl)):
        ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - X @ W) + pen)).solve(solver=cp.CLARABEL)
        est.set_params(epsilon=eps, fit_intercept=False, tol=0.0, stop="gap", solver="alternating")
        for max_iter in (1, 3, 10):
            with pytest.warns(ConvergenceWarning):
                est.set_params(max_iter=max_iter).fit(X, Y)
            primal = est.objective_path_[-1]
            assert est.gap_ >= (primal - ref) / primal - 1e-7
        if eps > 1e-3:
            tight = est.set_params(tol=1e-7, max_iter=2000).fit(X, Y)
            assert tight.gap_ <= 1e-7 and (tight.objective_path_[-1] - ref) / ref <= 1e-6


def test_kkt_residual_where_no_dual_is_computed():
    """cFSGL, CMTL and the classifiers report the relative KKT residual (gradient mapping): it shrinks as
    the fit converges, stop='gap' reaches it, and there the objective is within tol of cvxpy's optimum."""
    X, Y = _data(seed=3)
    d, T = X.shape[1], Y.shape[1]
    loose = CFGLassoRegressor(rho1=1.0, rho2=2.0, rho3=3.0, fit_intercept=False, max_iter=5, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        loose.fit(X, Y)
    tight = CFGLassoRegressor(rho1=1.0, rho2=2.0, rho3=3.0, fit_intercept=False, stop="gap", tol=1e-8,
                              max_iter=50000).fit(X, Y)
    assert tight.gap_ <= 1e-8 < loose.gap_
    W = cp.Variable((d, T))
    pen = 1.0 * cp.sum(cp.abs(W)) + 2.0 * cp.sum(cp.abs(W[:, 1:] - W[:, :-1])) + 3.0 * _l21(W)
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - X @ W) + pen)).solve(**EXACT)
    assert (tight.objective_path_[-1] - ref) / ref <= 1e-6
    for est, target in ((CMTLRegressor(), Y), (L21Classifier(), Y > 0)):
        m = est.set_params(stop="gap", tol=1e-6, max_iter=20000).fit(X, target)
        assert 0.0 <= m.gap_ <= 1e-6


def test_gap_of_the_smooth_task_couplings_tgl_and_srmtl():
    """TGL and SRMTL add PSD quadratic task couplings to the smooth part: still a certified gap."""
    X, Y = _data(seed=2)
    d, T = X.shape[1], Y.shape[1]
    H = np.zeros((T, T - 1))
    H[np.arange(T - 1), np.arange(T - 1)], H[np.arange(1, T), np.arange(T - 1)] = 1.0, -1.0
    R = np.eye(T) - 1.0 / T
    cases = [
        (TGLRegressor(rho1=0.5, rho2=2.0, rho3=8.0), lambda W: 0.5 * cp.sum_squares(W)
         + 2.0 * cp.sum_squares(W @ H) + 8.0 * _l21(W)),
        (SRMTLRegressor(rho1=3.0, rho2=4.0, rho_l2=0.2), lambda W: 3.0 * cp.sum_squares(W @ R)
         + 0.2 * cp.sum_squares(W) + 4.0 * cp.sum(cp.abs(W))),
    ]
    for est, pen in cases:
        W = cp.Variable((d, T))
        ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - X @ W) + pen(W))).solve(**EXACT)
        loose = est.set_params(fit_intercept=False, max_iter=5, tol=0.0)
        with pytest.warns(ConvergenceWarning):
            loose.fit(X, Y)
        primal = loose.objective_path_[-1]
        assert loose.gap_ >= (primal - ref) / primal - 1e-9
        tight = est.set_params(stop="gap", tol=1e-7, max_iter=20000).fit(X, Y)
        assert tight.gap_ <= 1e-7 and (tight.objective_path_[-1] - ref) / ref <= 1e-7 + 1e-9


def test_relative_gap_floor_for_interpolating_models():
    """More features than samples and a loose nuclear-norm ball: Q fits Y exactly (P* = 0). Relative to
    P(W) ≈ 1e-20 the gap would stay near 1; measured against 1e-12 P(0) the fit certifies and stops."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 40))
    Y = rng.normal(size=(12, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m = SparseTraceRegressor(rho1=1.0, rho2=1e3, fit_intercept=False, tol=1e-6, max_iter=5000).fit(X, Y)
    assert m.gap_ <= 1e-6 and m.n_iter_ < 5000
    assert np.abs(Y - X @ m.coef_.T).max() < 1e-6  # it interpolates
    # the floor changes nothing above it: Σ gap / Σ max(P, 1e-12 P₀)
    assert relative_gap(2.0, 4.0, 10.0) == 0.5
    assert relative_gap(1e-20, 1e-19, 1.0) == pytest.approx(1e-8)
    np.testing.assert_allclose(relative_gap(np.array([1.0, 1e-20]), np.array([2.0, 1e-18]), np.ones(2)), 0.5)
