import math

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    train_encoder_only,
)

import multitask as mt
from multitask.methods import FairGrad
from multitask.methods.gradient.fairgrad import alpha_fair_weights

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registered():
    assert isinstance(mt.create_method("fairgrad", alpha=2.0), FairGrad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_orthogonal_tasks_hand_values(dtype):
    # G = diag(1, 4), α = 1: wᵢ Gᵢᵢ wᵢ = 1 → w = (1, ½); unclipped update T·Jᵀw = 2·(1, 1)
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype)
    m = FairGrad(alpha=1.0, max_norm=0.0)
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([2.0, 2.0], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([2.0, 1.0], dtype=dtype))
    torch.testing.assert_close(m.last_solution, torch.tensor([1.0, 0.5], dtype=dtype))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_two_symmetric_tasks_hand_values(alpha):
    # unit gradients at cosine ½: w₁ = w₂ = w with 1.5 w = w^{-1/α} → w = 1.5^{-α/(α+1)}
    jac = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2]], dtype=torch.float64)
    m = FairGrad(alpha=alpha, max_norm=0.0)
    m.aggregate(jac)
    torch.testing.assert_close(
        m.last_solution, torch.full((2,), 1.5 ** (-alpha / (alpha + 1)), dtype=torch.float64)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype):
    # G = diag(1, 4, 16), α = 2: Gᵢᵢ wᵢ = wᵢ^{-1/2} → wᵢ = Gᵢᵢ^{-2/3}
    jac = torch.diag(torch.tensor([1.0, 2.0, 4.0], dtype=dtype))
    m = FairGrad(alpha=2.0, max_norm=0.0)
    m.aggregate(jac)
    expected = torch.tensor([1.0, 4.0, 16.0], dtype=torch.float64) ** (-2 / 3)
    torch.testing.assert_close(m.last_solution, expected.to(dtype))
    torch.testing.assert_close(m.last_weights, 3 * expected.to(dtype))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 5.0])
def test_optimality_condition_and_scipy_reference(alpha):
    gen = torch.Generator().manual_seed(int(alpha * 10))
    for t in (2, 3, 5):
        jac = torch.randn(t, 12, generator=gen, dtype=torch.float64) * (
            0.1 + 3 * torch.rand(t, 1, generator=gen)
        )
        gram = jac @ jac.T
        w = alpha_fair_weights(gram, alpha)
        rel = (gram @ w) / w.pow(-1.0 / alpha) - 1.0
        assert float(rel.abs().max()) < 1e-4
        # the official solver: scipy least squares on Gw − w^{-1/α} from 1/T, w ≥ 0
        a = gram.numpy()

        def residual(x: np.ndarray, a: np.ndarray = a) -> np.ndarray:
            return a @ x - np.power(1 / x, 1 / alpha)

        ref = least_squares(
            residual,
            np.ones(t) / t,
            bounds=(0, np.inf),
            xtol=1e-15,
            ftol=1e-15,
            gtol=1e-15,
        ).x
        np.testing.assert_allclose(w.numpy(), ref, rtol=1e-4)


def test_clipping_scales_the_update_to_max_norm():
    jac = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    free = FairGrad(alpha=1.0, max_norm=0.0).aggregate(jac)
    clipped_method = FairGrad(alpha=1.0, max_norm=0.5)
    clipped = clipped_method.aggregate(jac)
    assert float(free.norm()) == pytest.approx(2 * math.sqrt(2))  # ‖Jᵀw‖² = wᵀGw = T for α = 1, times T
    torch.testing.assert_close(clipped, free * 0.5 / (2 * math.sqrt(2)))
    torch.testing.assert_close(clipped_method.last_solution, torch.tensor([1 / 3, 1.0], dtype=torch.float64))


def _official_update(jac: torch.Tensor, alpha: float, max_norm: float) -> torch.Tensor:
    """The official FairGrad step, re-derived: w from least_squares on Gw = w^{-1/α} (w ≥ 0, start 1/T),
    g = Jᵀw, .grad = T·g, then clip_grad_norm_(max_norm) (rescale only when the norm exceeds it)."""
    t = jac.shape[0]
    a = (jac @ jac.T).numpy()
    w = least_squares(
        lambda x: a @ x - np.power(1 / x, 1 / alpha),
        np.ones(t) / t,
        bounds=(0, np.inf),
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
    ).x
    grad = t * (torch.from_numpy(w) @ jac)
    norm = float(grad.norm())
    return grad * (max_norm / norm) if 0 < max_norm < norm else grad


@pytest.mark.parametrize("alpha", [2.0, 5.0])
# ‖T·Jᵀw‖ above and below max_norm (it falls as s^{(1-α)/(1+α)} when J → sJ)
@pytest.mark.parametrize("scale", [0.05, 1e4])
def test_update_matches_the_official_code(alpha, scale):
    gen = torch.Generator().manual_seed(3)
    jac = scale * torch.randn(3, 7, generator=gen, dtype=torch.float64)
    ours = FairGrad(alpha=alpha, max_norm=1.0).aggregate(jac)
    reference = _official_update(jac, alpha, 1.0)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-9)
    if scale > 1:  # unclipped here: without the factor T the step would be T times shorter
        assert float(reference.norm()) < 1.0
    unclipped = FairGrad(alpha=alpha, max_norm=0.0).aggregate(jac)
    torch.testing.assert_close(unclipped, _official_update(jac, alpha, 0.0), rtol=1e-4, atol=1e-6)


def test_default_alpha_is_the_official_scripts_value_and_alpha_one_is_nash_mtl():
    assert FairGrad().alpha == 2.0
    gen = torch.Generator().manual_seed(5)
    for t in (2, 3, 4):
        jac = torch.randn(t, 9, generator=gen, dtype=torch.float64) * (0.01 + torch.rand(t, 1, generator=gen))
        nash = mt.create_method("nash_mtl").aggregate(jac)
        torch.testing.assert_close(FairGrad(alpha=1.0).aggregate(jac), nash, rtol=1e-6, atol=1e-9)
        assert float(nash.norm()) == pytest.approx(1.0)
        # α = 2 is a different step (the default bench rows must not coincide)
        assert not torch.allclose(FairGrad().aggregate(jac), nash, rtol=1e-3, atol=1e-6)


def test_scale_behaviour():
    jac = torch.randn(3, 6, dtype=torch.float64)
    # w scales as s^{-2α/(α+1)} when J → sJ, so d scales as s^{(1−α)/(1+α)}
    assert_scale_equivariant(FairGrad(alpha=1.0, max_norm=0.0), jac, degree=0.0)
    assert_scale_equivariant(FairGrad(alpha=2.0, max_norm=0.0), jac, degree=-1 / 3)


def test_permutation_weights_and_degenerate():
    jac = torch.randn(4, 6, dtype=torch.float64)
    assert_permutation_invariant(FairGrad(alpha=2.0), jac)
    assert_direction_matches_weights(FairGrad(), jac)
    assert_finite_on_degenerate(FairGrad())
    assert_finite_on_degenerate(FairGrad(alpha=3.0, max_norm=0.0))


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="alpha"):
        FairGrad(alpha=0.0)
    with pytest.raises(ValueError, match="max_norm"):
        FairGrad(max_norm=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        alpha_fair_weights(torch.eye(2), alpha=float("nan"))


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    first, last = train_encoder_only(FairGrad(alpha=2.0), features)
    assert last < 0.9 * first
