"""MoCo: the authors' update re-derived, the paper's projection variant by hand, convergence to the MGDA
weights under noise (variant), state, errors."""

from __future__ import annotations

import math

import pytest
import torch
from tests.methods.properties import (
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_state_round_trip,
    train_two_layer,
)
from torch import nn

import multitask as mt
from multitask.methods import MoCo

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _t(x: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def test_registered_and_defaults() -> None:
    m = mt.create_method("moco")
    assert isinstance(m, MoCo) and m.needs == "jacobian" and not m.supports_features
    assert (m.beta, m.beta_sigma, m.gamma, m.gamma_sigma, m.rho) == (0.5, 0.5, 0.1, 0.5, 0.0)
    assert m.normalize and m.lambda_update == "softmax" and m.uses_losses
    assert not MoCo(normalize=False).uses_losses


def _authors_moco(jacs: list[torch.Tensor], losses: list[torch.Tensor], rho: float = 0.0) -> list:
    """The authors' code (as in LibMTL), re-derived: rows → Lᵢ gᵢ/(‖gᵢ‖+1e-8), y ← y − β/k^½ (y − rows),
    λ ← softmax(λ − γ/k^½ (yyᵀ + ρI) λ), d = yᵀλ; β = ½, γ = 0.1."""
    t, n = jacs[0].shape
    y, lam, out = torch.zeros(t, n, dtype=torch.float64), torch.full((t,), 1 / t, dtype=torch.float64), []
    for k, (jac, loss) in enumerate(zip(jacs, losses), start=1):
        rows = torch.stack([jac[i] / (jac[i].norm() + 1e-8) * loss[i] for i in range(t)])
        y = y - 0.5 / k**0.5 * (y - rows)
        lam = torch.softmax(lam - 0.1 / k**0.5 * (y @ y.T + rho * torch.eye(t, dtype=torch.float64)) @ lam, 0)
        out.append((y.T @ lam, lam))
    return out


@pytest.mark.parametrize("rho", [0.0, 0.3])
def test_default_is_the_authors_update(rho: float) -> None:
    gen = torch.Generator().manual_seed(2)
    jacs = [torch.randn(3, 5, generator=gen, dtype=torch.float64) for _ in range(4)]
    losses = [torch.rand(3, generator=gen, dtype=torch.float64) + 0.1 for _ in range(4)]
    m = MoCo(rho=rho)
    for (d_ref, lam_ref), jac, loss in zip(_authors_moco(jacs, losses, rho), jacs, losses):
        torch.testing.assert_close(m.aggregate(jac, loss), d_ref)
        torch.testing.assert_close(m.lambd, lam_ref)


def test_default_weights_do_not_depend_on_the_gradient_scale() -> None:
    # the failure of the unnormalised projection: gradient norms ~500 put λ on a vertex
    jac = _t([[300.0, 400.0, 0.0], [0.0, 30.0, 40.0]])
    losses = _t([1.0, 0.5])
    small, large = MoCo(), MoCo()
    small.aggregate(jac / 500, losses)
    large.aggregate(jac, losses)
    torch.testing.assert_close(small.lambd, large.lambd)
    assert float(large.lambd.min()) > 0.3
    paper = MoCo(normalize=False, lambda_update="projection")
    paper.aggregate(jac)
    assert float(paper.lambd.min()) == 0.0  # the variant collapses to a vertex


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_steps_by_hand(dtype: torch.dtype) -> None:
    m = MoCo(normalize=False, lambda_update="projection")
    # step 1: β₁ = ½, γ₁ = 0.1; Y = ½J = diag(½, 1); YYᵀ = diag(¼, 1)
    # λ − γYYᵀλ = (½ − 0.0125, ½ − 0.05) = (0.4875, 0.45); Π_Δ shifts both by +0.03125
    d = m.aggregate(_t([[1.0, 0.0], [0.0, 2.0]], dtype))
    torch.testing.assert_close(m.tracked, _t([[0.5, 0.0], [0.0, 1.0]], dtype))
    torch.testing.assert_close(m.lambd, _t([0.51875, 0.48125]))
    torch.testing.assert_close(d, _t([0.259375, 0.48125], dtype))
    assert m.last_weights is None
    # step 2: β₂ = ½/√2, γ₂ = 0.1/√2, J = [[0, 1], [1, 0]]
    b, g = 0.5 / math.sqrt(2), 0.1 / math.sqrt(2)
    y = [[0.5 * (1 - b), b], [b, 1 - b]]
    gram = [[y[i][0] * y[j][0] + y[i][1] * y[j][1] for j in range(2)] for i in range(2)]
    lam = [0.51875, 0.48125]
    raw = [lam[i] - g * (gram[i][0] * lam[0] + gram[i][1] * lam[1]) for i in range(2)]
    shift = (1.0 - raw[0] - raw[1]) / 2  # both stay positive, so Π_Δ is a common shift
    lam2 = [raw[0] + shift, raw[1] + shift]
    assert min(lam2) > 0
    d = m.aggregate(_t([[0.0, 1.0], [1.0, 0.0]], dtype))
    torch.testing.assert_close(m.tracked, _t(y, dtype))
    torch.testing.assert_close(m.lambd, _t(lam2))
    expected = [lam2[0] * y[0][0] + lam2[1] * y[1][0], lam2[0] * y[0][1] + lam2[1] * y[1][1]]
    torch.testing.assert_close(d, _t(expected, dtype))


def test_simplex_projection_clips_a_weight() -> None:
    # γ large: λ − γ YYᵀλ leaves the simplex; the projection puts all weight on the small gradient
    m = MoCo(gamma=10.0, normalize=False, lambda_update="projection")
    m.aggregate(_t([[2.0, 0.0], [0.0, 0.2]]))
    # Y = diag(1, 0.1): λ − 10·diag(1, 0.01)λ = (½ − 5, ½ − 0.05) → Π_Δ = (0, 1)
    torch.testing.assert_close(m.lambd, _t([0.0, 1.0]))


def test_three_tasks_rho_and_normalize_by_hand() -> None:
    jac = _t([[3.0, 0.0, 4.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    m = MoCo(beta=1.0, beta_sigma=0.0, gamma=0.1, rho=1.0, lambda_update="projection")
    losses = _t([2.0, 1.0, 0.5])
    d = m.aggregate(jac, losses)
    # rows Lᵢ gᵢ/(‖gᵢ‖ + 1e-8): ‖g‖ = (5, 1, 2); β = 1 so Y is that matrix
    y = torch.stack([2.0 * jac[0] / (5 + 1e-8), 1.0 * jac[1] / (1 + 1e-8), 0.5 * jac[2] / (2 + 1e-8)])
    torch.testing.assert_close(m.tracked, y)
    # YYᵀ ≈ diag(4, 1, ¼) + off-diagonal Y₀·Y₂ = 2·0.8·0.5 = 0.8; (YYᵀ + I)λ with λ = ⅓
    step = (y @ y.T + torch.eye(3, dtype=torch.float64)) @ torch.full((3,), 1 / 3, dtype=torch.float64)
    raw = 1 / 3 - 0.1 * step
    lam = raw + (1 - raw.sum()) / 3  # all positive: a common shift
    assert float(lam.min()) > 0
    torch.testing.assert_close(m.lambd, lam)
    torch.testing.assert_close(d, lam @ y)


def test_converges_to_the_mgda_weights_of_the_mean_jacobian_under_noise() -> None:
    # J* = diag(1, 2): min-norm weights γ = (G₂₂ − G₁₂)/(G₁₁ + G₂₂ − 2G₁₂) = 4/5, i.e. (0.8, 0.2).
    # Tracking averages the noise out, so λ approaches the weights of J*, not of a noisy sample.
    gen = torch.Generator().manual_seed(5)
    jac = _t([[1.0, 0.0], [0.0, 2.0]])
    m = MoCo(normalize=False, lambda_update="projection")
    for _ in range(1000):
        m.aggregate(jac + 0.5 * torch.randn(2, 2, generator=gen, dtype=torch.float64))
    torch.testing.assert_close(m.lambd, _t([0.8, 0.2]), atol=0.03, rtol=0)
    torch.testing.assert_close(m.tracked, jac, atol=0.15, rtol=0)
    # noiseless: the fixed point is exactly the min-norm solution
    m = MoCo(normalize=False, lambda_update="projection")
    for _ in range(300):
        d = m.aggregate(jac)
    torch.testing.assert_close(m.lambd, _t([0.8, 0.2]), atol=1e-3, rtol=0)
    torch.testing.assert_close(d, _t([0.8, 0.4]), atol=2e-3, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_permutation_invariant(dtype: torch.dtype) -> None:
    assert_permutation_invariant(MoCo(), torch.randn(3, 6, dtype=torch.float64).to(dtype))


def test_degenerate_and_state() -> None:
    assert_finite_on_degenerate(MoCo())
    assert_finite_on_degenerate(MoCo(rho=0.5, normalize=False, lambda_update="projection"))
    restored = assert_state_round_trip(MoCo(), torch.randn(3, 5, dtype=torch.float64))
    assert restored.tracked is not None and restored.lambd is not None and restored.step_count == 4


def test_shape_change_and_bad_arguments_raise() -> None:
    m = MoCo(normalize=False)
    m.aggregate(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"tracked gradients Y have shape \(2, 4\).*reset"):
        m.aggregate(torch.randn(2, 5))
    with pytest.raises(ValueError, match="tracked gradients"):
        m.aggregate(torch.randn(3, 4))
    m.reset()
    assert m.aggregate(torch.randn(3, 5)).shape == (5,)
    with pytest.raises(ValueError, match="needs the loss values"):
        MoCo().aggregate(torch.randn(2, 3))
    with pytest.raises(ValueError, match="lambda_update"):
        MoCo(lambda_update="simplex")
    for kwargs, field in (
        ({"beta": 0.0}, "beta"),
        ({"beta": 1.5}, "beta"),
        ({"gamma": -1.0}, "gamma"),
        ({"rho": -0.1}, "rho"),
        ({"beta_sigma": math.nan}, "beta_sigma"),
    ):
        with pytest.raises(ValueError, match=field):
            MoCo(**kwargs)


def test_features_mode_is_refused_with_the_reason() -> None:
    enc = nn.Linear(3, 4)
    z = enc(torch.randn(5, 3))
    losses = [z.sum(), (z**2).sum()]
    with pytest.raises(ValueError, match="tracks each task gradient"):
        mt.backward(losses, MoCo(), shared=enc.parameters(), features=z)


def test_end_to_end_parameters_mode_lowers_the_loss() -> None:
    first, last = train_two_layer(MoCo(), features=False)
    assert last < 0.5 * first
