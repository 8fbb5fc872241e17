"""CAGrad: hand values, the primal problem solved by cvxpy, the paper's guarantees, rescale options."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_non_conflicting,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
)

import multitask as mt
from multitask.methods import CAGrad

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _primal(jac: torch.Tensor, c: float) -> np.ndarray:
    """``argmax_d minᵢ gᵢᵀd`` s.t. ``‖d − g₀‖ ≤ c‖g₀‖`` (the paper's eq. 2), by cvxpy."""
    j = jac.double().numpy()
    g0 = j.mean(axis=0)
    d = cp.Variable(j.shape[1])
    prob = cp.Problem(cp.Maximize(cp.min(j @ d)), [cp.norm(d - g0) <= c * np.linalg.norm(g0)])
    prob.solve(solver="CLARABEL")
    return np.asarray(d.value)


def test_registered() -> None:
    m = mt.create_method("cagrad", c=0.4)
    assert isinstance(m, CAGrad) and m.needs == "gramian" and m.c == 0.4


@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonal_pair_hand_values(dtype: torch.dtype) -> None:
    # g = e₁, e₂: w = (½, ½) by symmetry, g_w = g₀, λ = c, d = (1 + c) g₀ = (0.7, 0.7) for c = 0.4
    jac = torch.eye(2, dtype=dtype)
    m = CAGrad(c=0.4, rescale=0)
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.7, 0.7], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([0.7, 0.7], dtype=dtype))
    torch.testing.assert_close(m.last_dual, torch.tensor([0.5, 0.5], dtype=dtype))
    torch.testing.assert_close(CAGrad(rescale=1).aggregate(jac), torch.full((2,), 0.7 / 1.16, dtype=dtype))
    torch.testing.assert_close(CAGrad(rescale=2).aggregate(jac), torch.full((2,), 0.5, dtype=dtype))


def test_c_zero_is_the_mean_gradient() -> None:
    jac = torch.tensor([[1.0, 0.0, 2.0], [-3.0, 1.0, 0.0], [0.5, 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(CAGrad(c=0.0).aggregate(jac), jac.mean(dim=0))


def test_conflicting_pair_hand_values() -> None:
    # g₁ = (1, 0), g₂ = (−1, 1): g₀ = (0, ½), ‖g₀‖ = ½, ball radius c‖g₀‖ = 0.2 for c = 0.4.
    # The line g₁ᵀd = g₂ᵀd (y = 2x) is 0.5/√5 ≈ 0.224 > 0.2 from g₀, so only task 1 is active:
    # maximise x over the ball → d = (0.2, 0.5) = g₀ + 0.2 g₁ (dual w = e₁, λ = 0.2/‖g₁‖ = 0.2).
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    m = CAGrad(c=0.4, rescale=0)
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.2, 0.5], dtype=torch.float64))
    torch.testing.assert_close(m.last_dual, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(m.last_weights, torch.tensor([0.7, 0.5], dtype=torch.float64))


@pytest.mark.parametrize("c", [0.2, 0.4, 0.8])
def test_matches_primal_solved_by_cvxpy(c: float) -> None:
    gen = torch.Generator().manual_seed(int(100 * c))
    for t, n in [(3, 5), (4, 8), (6, 4)]:
        jac = torch.randn(t, n, generator=gen, dtype=torch.float64)
        d = CAGrad(c=c, rescale=0).aggregate(jac)
        ref = _primal(jac, c)
        j = jac.numpy()
        # feasible, and at least as good as the reference in the primal objective minᵢ gᵢᵀd
        radius = c * np.linalg.norm(j.mean(axis=0))
        assert np.linalg.norm(d.numpy() - j.mean(axis=0)) <= radius * (1 + 1e-9)
        assert (j @ d.numpy()).min() == pytest.approx((j @ ref).min(), rel=1e-7, abs=1e-9)
        # the objective is flat along the sphere near the optimum, so the interior-point reference
        # pins d itself down only to about √(its tolerance)
        np.testing.assert_allclose(d.numpy(), ref, atol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_paper_guarantees(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(3)
    for _ in range(4):
        jac = torch.randn(4, 6, generator=gen, dtype=torch.float64)
        jac[1] = -jac[0] + 0.1 * jac[1]  # a strong conflict
        jac = jac.to(dtype)
        # c ≥ 1: the ball around g₀ contains 0, so the best worst-case direction conflicts with no task
        assert_non_conflicting(CAGrad(c=1.0), jac)
        assert_non_conflicting(CAGrad(c=2.0), jac)
        # any c: the worst task does at least as well as under the mean gradient g₀
        d = CAGrad(c=0.4, rescale=0).aggregate(jac)
        g0 = jac.mean(dim=0)
        tol = 1e-4 if dtype == torch.float32 else 1e-9
        assert float((jac @ d).min()) >= float((jac @ g0).min()) - tol * float(jac.norm() ** 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 6, dtype=torch.float64).to(dtype)
    assert_permutation_invariant(CAGrad(), jac)
    assert_scale_equivariant(CAGrad(), jac)
    assert_direction_matches_weights(CAGrad(), jac)


def test_degenerate_state_and_errors() -> None:
    assert_finite_on_degenerate(CAGrad())
    assert_finite_on_degenerate(CAGrad(c=1.5, rescale=0))
    assert_state_round_trip(CAGrad(), torch.randn(3, 5))
    with pytest.raises(ValueError, match="rescale"):
        CAGrad(rescale=3)
    with pytest.raises(ValueError, match="c must"):
        CAGrad(c=-1.0)
    with pytest.raises(ValueError, match="scale"):
        CAGrad(scale="total")


def _authors_update(jac: torch.Tensor, alpha: float, rescale: int) -> np.ndarray:
    """The authors' NYUv2 step, re-derived: SLSQP on the dual over the simplex, d = g₀ + (c‖g₀‖/‖g_w‖) g_w,
    rescaled by 1/(1+α²) (rescale=1) or 1/(1+α) (rescale=2), then multiplied by T in overwrite_grad."""
    from scipy.optimize import minimize

    t = jac.shape[0]
    j = jac.double().numpy()
    a = j @ j.T
    c = alpha * np.sqrt(a.mean() + 1e-8) + 1e-8
    mean_w = np.ones(t) / t

    def dual(x: np.ndarray) -> float:
        return float(x @ a @ mean_w + c * np.sqrt(x @ a @ x + 1e-8))

    cons = {"type": "eq", "fun": lambda x: 1 - x.sum()}
    w = minimize(dual, mean_w, bounds=[(0, 1)] * t, constraints=cons, options={"ftol": 1e-12}).x
    gw = w @ j
    d = j.mean(axis=0) + c / (np.linalg.norm(gw) + 1e-8) * gw
    d = d / (1 + alpha**2) if rescale == 1 else d / (1 + alpha) if rescale == 2 else d
    return d * t


@pytest.mark.parametrize("rescale", [0, 1, 2])
def test_sum_scale_matches_the_authors_code(rescale: int) -> None:
    gen = torch.Generator().manual_seed(11)
    jac = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    jac[2] = -0.8 * jac[0] + 0.3 * jac[2]
    ours = CAGrad(c=0.4, rescale=rescale, scale="sum").aggregate(jac)
    np.testing.assert_allclose(ours.numpy(), _authors_update(jac, 0.4, rescale), rtol=1e-4, atol=1e-6)
    # the default follows LibMTL: the same direction, T times shorter
    torch.testing.assert_close(CAGrad(c=0.4, rescale=rescale).aggregate(jac) * 3, ours)
