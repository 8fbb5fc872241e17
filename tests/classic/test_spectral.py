"""The prox of the MTFL / MTRL penalty minimised over D / Ω: on singular values against scipy's minimiser
and the optimality condition, on a matrix against cvxpy (Lewis' spectral prox)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize

from multitask.classic._spectral import (
    normalised_gram_sqrt,
    normalised_sqrt,
    perturbed_sq_prox,
    perturbed_trace_sq,
    spectral_sq_prox,
)

EXACT = dict(solver=cp.CLARABEL, tol_gap_rel=1e-12, tol_feas=1e-12)


def _phi(x: np.ndarray, gamma: float, eps: float, q: int, lam1: float) -> float:
    return 0.5 * lam1 * float(np.sum(x * x)) + gamma * perturbed_trace_sq(np.abs(x), eps, q)


@pytest.mark.parametrize("trial", range(3))
@pytest.mark.parametrize("lam1", [0.0, 0.7])
@pytest.mark.parametrize("eps", [1e-8, 1e-4, 1.0])
def test_vector_prox_is_the_minimiser(eps: float, lam1: float, trial: int) -> None:
    rng = np.random.default_rng([trial, int(1e4 * eps), int(10 * lam1)])
    r, q = 4, 6  # two padded zeros of the penalty's argument
    s = np.abs(rng.normal(size=r)) * rng.choice([0.1, 1.0, 10.0])
    t, gamma = rng.uniform(0.05, 2.0), rng.uniform(0.1, 2.0)
    x = perturbed_sq_prox(s, t, gamma, eps, q, lam1)

    def obj(z: np.ndarray) -> float:
        return t * _phi(z, gamma, eps, q, lam1) + 0.5 * float(np.sum((z - s) ** 2))

    opts = dict(xatol=1e-12, fatol=1e-15, maxiter=20000, maxfev=40000)
    ref = min((minimize(obj, x0, method="Nelder-Mead", options=opts) for x0 in (s, s / 2, np.zeros(r))),
              key=lambda res: res.fun)
    assert obj(x) <= ref.fun + 1e-13 * max(1.0, abs(ref.fun))
    np.testing.assert_allclose(x, ref.x, atol=1e-6 * max(1.0, float(s.max())))
    # optimality: xᵢ(1 + t·lam1) + 2tγS·xᵢ/√(xᵢ² + ε) = sᵢ with S over all q entries
    S = float(np.sum(np.sqrt(x * x + eps))) + (q - r) * np.sqrt(eps)
    residual = x * (1 + t * lam1) + 2 * t * gamma * S * x / np.sqrt(x * x + eps) - s
    assert np.abs(residual).max() <= 1e-12 * max(1.0, float(s.max()))
    assert np.all((x >= 0) & (x <= s / (1 + t * lam1)))


def test_vector_prox_edge_cases() -> None:
    s = np.array([3.0, 0.0, 1.0])
    np.testing.assert_array_equal(perturbed_sq_prox(s, 0.0, 2.0, 1e-8, 5), s)  # step 0: identity
    np.testing.assert_allclose(perturbed_sq_prox(s, 1.0, 0.0, 1e-8, 5, lam1=1.0), s / 2)  # ridge only
    x = perturbed_sq_prox(s, 1.0, 2.0, 1e-8, 5)
    assert x[1] == 0.0 and x[0] > x[2] > 0.0
    with pytest.raises(ValueError, match="q = 2"):
        perturbed_sq_prox(s, 1.0, 1.0, 1e-8, 2)
    with pytest.raises(ValueError, match="ε > 0"):
        perturbed_sq_prox(s, 1.0, 1.0, 0.0, 5)


@pytest.mark.parametrize("lam1", [0.0, 1.5])
@pytest.mark.parametrize("eps", [1e-8, 1e-2])
@pytest.mark.parametrize("side", ["features", "tasks"])  # MTFL: q = d (> T here); MTRL: q = T
def test_matrix_prox_equals_cvxpy(side: str, eps: float, lam1: float) -> None:
    rng = np.random.default_rng(3)
    d, T = 4, 3
    V = rng.normal(size=(d, T)) * 2.0
    t, gamma = 0.3, 0.8
    q = d if side == "features" else T
    X = cp.Variable((d, T))
    aug = cp.hstack([X, np.sqrt(eps) * np.eye(d)]) if side == "features" else cp.vstack(
        [X, np.sqrt(eps) * np.eye(T)]
    )  # singular values √(σᵢ² + ε) over q entries
    penalty = lam1 / 2 * cp.sum_squares(X) + gamma * cp.square(cp.normNuc(aug))
    obj = t * penalty + 0.5 * cp.sum_squares(X - V)
    cp.Problem(cp.Minimize(obj)).solve(**EXACT)
    ours = spectral_sq_prox(V, t, gamma, eps, q, lam1)
    np.testing.assert_allclose(ours, X.value, atol=1e-6)

    def value(Z: np.ndarray) -> float:
        s = np.linalg.svd(Z, compute_uv=False)
        return t * (0.5 * lam1 * float(np.sum(s * s)) + gamma * perturbed_trace_sq(s, eps, q)) + 0.5 * float(
            np.sum((Z - V) ** 2)
        )

    assert value(ours) <= value(X.value) + 1e-12


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
@pytest.mark.parametrize("eps", [1e-8, 1.0])
def test_gram_sqrt_from_the_thin_svd_equals_the_eigendecomposition(shape: tuple, eps: float) -> None:
    W = np.random.default_rng(5).normal(size=shape)
    D = normalised_gram_sqrt(W, eps)
    np.testing.assert_allclose(D, normalised_sqrt(W @ W.T, eps)[0], atol=1e-12)
    total = np.sqrt(perturbed_trace_sq(np.linalg.svd(W, compute_uv=False), eps, shape[0]))
    np.testing.assert_allclose((total * D) @ (total * D), W @ W.T + eps * np.eye(shape[0]), atol=1e-12)
    assert np.trace(D) == pytest.approx(1.0)
