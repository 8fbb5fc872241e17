"""The certified engines on per-task rows with features of very different scales (School's difficulty):
ADMM (trace norm, RMTL, rMTFL, ℓ2,1) and the preconditioned FISTA (Dirty, TGL) reach the relative gap
they report, which bounds the true suboptimality (cvxpy), and the per-row proxes they rely on equal the
row-by-row scalar ones."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from multitask.classic import (
    DirtyRegressor,
    L21Regressor,
    RMTFLRegressor,
    RMTLRegressor,
    TGLRegressor,
    TraceRegressor,
)
from multitask.classic._fused import prox_fused_sparse_group_rows
from multitask.classic._prox import prox_l1inf_rows, prox_l21_rows

EXACT = dict(solver=cp.CLARABEL, tol_gap_rel=1e-12, tol_feas=1e-12)


def _uneven(seed=0, d=5, sizes=(30, 12, 25, 40)):
    """Per-task rows whose feature scales span three orders of magnitude (and differ across tasks)."""
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(len(sizes)), sizes)
    scale = np.array([0.05, 0.3, 1.0, 5.0, 30.0])[:d] * rng.uniform(0.5, 2.0, size=(len(sizes), d))
    X = rng.normal(size=(task.size, d)) * scale[task]
    W = (rng.normal(size=(d, 1)) @ rng.normal(size=(1, len(sizes)))) / scale.mean(0)[:, None]
    y = np.einsum("nd,dn->n", X, W[:, task]) + 0.3 * rng.normal(size=task.size)
    return X, y, task


def _l21(A):
    return cp.sum(cp.norm(A, 2, axis=1))


def _cols(A):
    return cp.sum(cp.norm(A, 2, axis=0))


CASES = {  # estimator, penalty on the cvxpy parts (P, Q); Q = 0 for the one-part models
    "trace (ADMM)": (TraceRegressor(rho1=3.0), lambda P, Q: 3.0 * cp.normNuc(P), True),
    "l21 (ADMM)": (L21Regressor(rho1=3.0), lambda P, Q: 3.0 * _l21(P), True),
    "rmtl (ADMM)": (
        RMTLRegressor(rho1=3.0, rho2=4.0), lambda P, Q: 3.0 * cp.normNuc(P) + 4.0 * _cols(Q), False
    ),
    "rmtfl (ADMM)": (
        RMTFLRegressor(lambda1=3.0, lambda2=4.0), lambda P, Q: 3.0 * _l21(P) + 4.0 * _cols(Q), False
    ),
    "dirty (FISTA, preconditioned)": (
        DirtyRegressor(lambda1=6.0, lambda2=2.0),
        lambda P, Q: 6.0 * cp.sum(cp.max(cp.abs(P), axis=1)) + 2.0 * cp.sum(cp.abs(Q)),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_certified_engines_on_uneven_per_task_rows(name):
    est, pen, one_part = CASES[name]
    X, y, task = _uneven()
    T, d = task.max() + 1, X.shape[1]
    P, Q = cp.Variable((d, T)), cp.Variable((d, T))
    W = P + Q
    loss = sum(0.5 * cp.sum_squares(y[task == t] - X[task == t] @ W[:, t]) for t in range(T))
    ref = cp.Problem(cp.Minimize(loss + pen(P, Q)), [Q == 0] if one_part else []).solve(**EXACT)
    for max_iter, tol in ((20, 0.0), (20000, 1e-8)):
        est.set_params(fit_intercept=False, stop="gap", max_iter=max_iter, tol=tol)
        if tol == 0.0:
            with pytest.warns(Warning):  # ConvergenceWarning: the loose fit does not reach tol = 0
                est.fit(X, y, task=task)
        else:
            est.fit(X, y, task=task)
        primal = est.objective_path_[-1]
        assert est.gap_ >= (primal - ref) / primal - 1e-9  # a bound of the true suboptimality
    assert est.gap_ <= 1e-8 and (primal - ref) / ref <= 1e-8 + 1e-9


def test_tgl_preconditioned_fista_on_uneven_rows_matches_cvxpy():
    X, y, task = _uneven(seed=1)
    T, d = task.max() + 1, X.shape[1]
    W = cp.Variable((d, T))
    loss = sum(0.5 * cp.sum_squares(y[task == t] - X[task == t] @ W[:, t]) for t in range(T))
    pen = 0.5 * cp.sum_squares(W) + 2.0 * cp.sum_squares(W[:, 1:] - W[:, :-1]) + 3.0 * _l21(W)
    ref = cp.Problem(cp.Minimize(loss + pen)).solve(**EXACT)
    m = TGLRegressor(rho1=0.5, rho2=2.0, rho3=3.0, fit_intercept=False, tol=1e-8, max_iter=20000)
    m.fit(X, y, task=task)
    assert m.gap_ <= 1e-8 and (m.objective_path_[-1] - ref) / ref <= 1e-8 + 1e-9


def test_per_row_steps_equal_row_by_row_proxes():
    rng = np.random.default_rng(0)
    V, t = rng.normal(size=(6, 5)), rng.uniform(0.0, 1.5, size=(6, 1))
    t[2] = 0.0
    for prox in (prox_l21_rows, prox_l1inf_rows):
        rows = np.vstack([prox(V[i : i + 1], float(t[i, 0])) for i in range(6)])
        np.testing.assert_allclose(prox(V, t), rows, atol=1e-14)
    lam = (0.3 * t, t, 0.5 * t)
    rows = np.vstack(
        [prox_fused_sparse_group_rows(V[i : i + 1], *(float(x[i, 0]) for x in lam)) for i in range(6)]
    )
    np.testing.assert_allclose(prox_fused_sparse_group_rows(V, *lam), rows, atol=1e-14)
    with pytest.raises(ValueError, match="per-row t"):
        prox_l21_rows(V, np.ones((5, 1)))
