"""The documented MALSAR translations, checked against MALSAR's own update rules re-derived here.

MALSAR's ``Least_Dirty``, ``Least_rMTFL``, ``Least_RMTL``, ``Least_SparseTrace`` and
``Least_msmtfl_capL1`` minimise ``Σₜ‖Xwₜ − yₜ‖²`` (no ½, no intercept): their gradient step is on
``2Xᵀ(XW − Y)`` and each prox thresholds at (MALSAR's strength) / (step constant), as in their Matlab
sources (e.g. ``solve_trace_norm_RMTL(new_L, 2*rho1/gamma)`` thresholds at ``rho1/gamma``). Running that
iteration with MALSAR's strengths must give our fit with ``fit_intercept=False`` and the strengths the
docstrings state (half MALSAR's for the penalties, the same radius, MSMTFL's lambda unchanged); the
untranslated strengths must not.
"""

from __future__ import annotations

import numpy as np
import pytest

from multitask.classic import (
    DirtyRegressor,
    MSMTFLRegressor,
    RMTFLRegressor,
    RMTLRegressor,
    SparseTraceRegressor,
)

TIGHT = dict(tol=1e-14, stop="obj_change", max_iter=50000, fit_intercept=False)


def _data(seed: int = 0, n: int = 40, d: int = 6, T: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 1)) @ rng.normal(size=(1, T)) + 0.5 * rng.normal(size=(d, T))
    W[-2:] = 0.0
    return X, X @ W + 0.5 * rng.normal(size=(n, T))


def malsar_apg(X, Y, prox, n_parts, iters=4000):
    """MALSAR's accelerated gradient (t-sequence, L doubled until the quadratic bound holds) on the
    loss Σ‖XW − Y‖²_F without ½, W = Σ parts, no intercept; ``prox(parts, L)`` as in MALSAR's code."""
    f = lambda W: float(np.sum((X @ W - Y) ** 2))  # noqa: E731
    x = x_old = [np.zeros((X.shape[1], Y.shape[1]))] * n_parts
    t, t_old, L = 1.0, 0.0, 1.0
    for _ in range(iters):
        a = (t_old - 1.0) / t
        s = [(1 + a) * xi - a * xo for xi, xo in zip(x, x_old)]
        Ws = sum(s)
        g = 2.0 * X.T @ (X @ Ws - Y)
        while True:
            z = prox([si - g / L for si in s], L)
            dz = [zi - si for zi, si in zip(z, s)]
            if f(sum(z)) <= f(Ws) + sum(np.sum(d * g) for d in dz) + L / 2 * sum(np.sum(d * d) for d in dz):
                break
            L *= 2.0
        x_old, x, t_old, t = x, z, t, 0.5 * (1 + np.sqrt(1 + 4 * t * t))
    return x


def soft(V, th):
    return np.sign(V) * np.maximum(np.abs(V) - th, 0.0)


def group_shrink(V, th, axis):
    n = np.linalg.norm(V, axis=axis, keepdims=True)
    return V * np.maximum(1.0 - th / np.maximum(n, 1e-300), 0.0)


def svt(V, th):
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    return (U * np.maximum(s - th, 0.0)) @ Vt


def l1_ball(v, r):
    """Projection of v onto {‖x‖₁ ≤ r} (sort the magnitudes, find the threshold)."""
    if np.abs(v).sum() <= r:
        return v
    u = np.sort(np.abs(v))[::-1]
    css = np.cumsum(u) - r
    k = np.nonzero(u - css / np.arange(1, u.size + 1) > 0)[0][-1]
    return soft(v, css[k] / (k + 1))


def assert_translation(X, Y, prox, cls, translated: dict, malsar: dict):
    """MALSAR's two-part iteration with ``prox`` equals our fit ``cls(**translated)`` (both parts active),
    and not ``cls(**malsar)``, MALSAR's strengths taken unchanged."""
    parts = malsar_apg(X, Y, prox, 2)
    assert all(np.abs(p).max() > 0.1 for p in parts)
    W = parts[0] + parts[1]
    np.testing.assert_allclose(cls(**translated, **TIGHT).fit(X, Y).coef_.T, W, atol=1e-3)
    assert np.abs(cls(**malsar, **TIGHT).fit(X, Y).coef_.T - W).max() > 2e-2


def test_rmtl_is_malsar_with_half_the_strengths():
    X, Y = _data()
    Y[:, -1] = X @ np.array([4.0, -3.0, 2.0, 0.0, 0.0, 5.0]) + 0.5 * np.random.default_rng(9).normal(size=40)
    r1, r2 = 40.0, 30.0  # MALSAR's rho1, rho2; the last task is an outlier
    # solve_trace_norm_RMTL(new_L, 2*rho1/gamma) and solve_12_norm(new_S, 2*rho2/gamma) halve their β

    def prox(p, g):
        return [svt(p[0], 2 * r1 / g / 2), group_shrink(p[1], 2 * r2 / g / 2, 0)]

    assert_translation(X, Y, prox, RMTLRegressor, dict(rho1=r1 / 2, rho2=r2 / 2), dict(rho1=r1, rho2=r2))


def test_sparse_trace_is_malsar_with_half_gamma_and_the_same_radius():
    X, Y = _data(seed=1)
    gamma, tau = 10.0, 1.0  # both parts active

    def prox(p, Li):  # Solve_OneNorm(hat_Sp, Li/2, gamma) thresholds at 0.5·gamma/(Li/2); eplb: ℓ1 ball
        U, s, Vt = np.linalg.svd(p[1], full_matrices=False)
        return [soft(p[0], 0.5 * gamma / (Li / 2)), (U * l1_ball(s, tau)) @ Vt]

    ours, malsar = dict(rho1=gamma / 2, rho2=tau), dict(rho1=gamma, rho2=tau)
    assert_translation(X, Y, prox, SparseTraceRegressor, ours, malsar)


def test_dirty_is_malsar_with_half_the_strengths():
    X, Y = _data(seed=2)
    l1, l2 = 40.0, 25.0

    def prox(p, L):  # proximalL1infnorm(·, lambda1/L) = V − Π_{ℓ1 ball of radius lambda1/L} row-wise
        P = np.stack([row - l1_ball(row, l1 / L) for row in p[0]])
        return [P, soft(p[1], l2 / L)]

    ours, malsar = dict(lambda1=l1 / 2, lambda2=l2 / 2), dict(lambda1=l1, lambda2=l2)
    assert_translation(X, Y, prox, DirtyRegressor, ours, malsar)


def test_rmtfl_is_malsar_with_half_the_strengths():
    X, Y = _data(seed=3)
    l1, l2 = 10.0, 10.0
    # proximalL12norm(P, lambda1/L) on rows; on Qᵀ's rows, i.e. Q's columns, at lambda2/L
    def prox(p, L):
        return [group_shrink(p[0], l1 / L, 1), group_shrink(p[1], l2 / L, 0)]

    ours, malsar = dict(lambda1=l1 / 2, lambda2=l2 / 2), dict(lambda1=l1, lambda2=l2)
    assert_translation(X, Y, prox, RMTFLRegressor, ours, malsar)


@pytest.mark.parametrize("lam,theta", [(10.0, 1.5), (20.0, 1.0)])
def test_msmtfl_is_malsar_with_the_same_lambda_and_theta(lam, theta):
    X, Y = _data(seed=4)
    weights = np.full(X.shape[1], lam)
    W = np.zeros((X.shape[1], Y.shape[1]))
    for _ in range(20):  # Least_msmtfl_capL1: weighted lasso stages, proximalwL1norm(·, weight/L)
        W = malsar_apg(X, Y, lambda p, L, w=weights: [soft(p[0], w[:, None] / L)], 1, iters=2000)[0]
        new = lam * (np.abs(W).sum(axis=1) < theta)
        if np.array_equal(new, weights):
            break
        weights = new
    assert 0 < np.count_nonzero(weights) < weights.size  # some rows past the cap: not the lasso
    ours = MSMTFLRegressor(lambda1=lam, theta=theta, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(ours.coef_.T, W, atol=1e-3)
