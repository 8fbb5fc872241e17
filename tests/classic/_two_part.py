"""Reference objectives shared by the tests of the W = P + Q estimators (Dirty, rMTFL).

``pen_cvx(P, Q)`` / ``pen_np(P, Q)`` give an estimator's penalty on cvxpy variables / numpy arrays; the
losses are the package's (½ squared error per task, mean logistic loss per task), with intercepts.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

TIGHT = dict(tol=1e-13, stop="obj_change", max_iter=20000)
CLF_TOL = dict(tol=1e-10, stop="obj_change", max_iter=20000)  # ample for 1e-4 in objective


def shared_data(seed: int = 0, n: int = 30, d: int = 6, T: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    Y = X @ rng.normal(size=(d, T)) + 0.3 * rng.normal(size=(n, T)) + 1.0
    return X, Y


def cvx_least_squares(Xs, ys, pen_cvx) -> float:
    """Optimal value of Σₜ ½‖yₜ − Xₜ(pₜ + qₜ) − cₜ‖² + pen(P, Q), by cvxpy."""
    d, T = Xs[0].shape[1], len(Xs)
    P, Q, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    loss = sum(0.5 * cp.sum_squares(ys[t] - Xs[t] @ (P[:, t] + Q[:, t]) - c[t]) for t in range(T))
    return cp.Problem(cp.Minimize(loss + pen_cvx(P, Q))).solve(solver=cp.CLARABEL)


def np_least_squares(Xs, ys, m, pen_np) -> float:
    """The same objective at a fitted estimator ``m`` (``coef_``, ``intercept_``, ``P_``, ``Q_``)."""
    W = m.coef_.T
    loss = sum(0.5 * np.sum((ys[t] - Xs[t] @ W[:, t] - m.intercept_[t]) ** 2) for t in range(len(Xs)))
    return loss + pen_np(m.P_.T, m.Q_.T)


def cvx_logistic(X, Y, pen_cvx) -> float:
    """Optimal value of Σₜ mean log(1 + exp(−yₜ ⊙ (X(pₜ + qₜ) + cₜ))) + pen(P, Q), by cvxpy."""
    n, d = X.shape
    T = Y.shape[1]
    P, Q, c = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    loss = sum(
        cp.sum(cp.logistic(-cp.multiply(Y[:, t], X @ (P[:, t] + Q[:, t]) + c[t]))) / n for t in range(T)
    )
    return cp.Problem(cp.Minimize(loss + pen_cvx(P, Q))).solve(solver=cp.CLARABEL)


def np_logistic(X, Y, m, pen_np) -> float:
    M = Y * (X @ m.coef_.T + m.intercept_)
    return np.logaddexp(0.0, -M).mean(axis=0).sum() + pen_np(m.P_.T, m.Q_.T)
