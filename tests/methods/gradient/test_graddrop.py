"""GradDrop: sign purity and masks by hand, the keep-probability in distribution, leak, seeds."""

from __future__ import annotations

import pytest
import torch
from tests.methods.properties import (
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
)

import multitask as mt
from multitask.methods import GradDrop

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registered() -> None:
    m = mt.create_method("graddrop")
    assert isinstance(m, GradDrop) and m.supports_features and m.needs == "jacobian"


@pytest.mark.parametrize("dtype", DTYPES)
def test_pure_signs_keep_everything(dtype: torch.dtype) -> None:
    # every coordinate has one sign across tasks: P ∈ {0, 1}, nothing is dropped
    jac = torch.tensor([[1.0, -2.0, 0.0], [3.0, -4.0, 0.0]], dtype=dtype)
    m = GradDrop()
    for _ in range(5):
        torch.testing.assert_close(m.aggregate(jac), jac.sum(dim=0))
    assert m.last_weights is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_masks_by_hand_with_known_uniforms(dtype: torch.dtype) -> None:
    # coordinate 0: sum 0, |sum| 4 → P = ½; coordinate 1: (−1 + 3)/4 → P = ¾; coordinate 2: P = 1
    jac = torch.tensor([[2.0, -1.0, 0.5], [-2.0, 3.0, 0.5]], dtype=dtype)
    purity = torch.tensor([0.5, 0.75, 1.0], dtype=dtype)
    # the uniform draws GradDrop(seed=42) makes
    u = torch.rand(3, generator=torch.Generator().manual_seed(42)).to(dtype)
    positive = torch.tensor([2.0, 3.0, 1.0], dtype=dtype)
    negative = torch.tensor([-2.0, -1.0, 0.0], dtype=dtype)
    expected = torch.where(purity > u, positive, negative)
    torch.testing.assert_close(GradDrop(seed=42).aggregate(jac), expected)


def test_keep_probability_is_the_sign_purity() -> None:
    # every column holds (3, −1): P = ½(1 + 2/4) = ¾, so the positive gradient survives ≈ 75 % of the time
    n = 20000
    jac = torch.tensor([[3.0], [-1.0]], dtype=torch.float64).expand(2, n).contiguous()
    d = GradDrop(seed=0).aggregate(jac)
    assert set(d.unique().tolist()) <= {3.0, -1.0}
    frac = float((d == 3.0).double().mean())
    assert abs(frac - 0.75) < 4 * (0.75 * 0.25 / n) ** 0.5  # 4 standard errors


def test_leak() -> None:
    jac = torch.tensor([[2.0, -1.0, 0.5], [-2.0, 3.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(GradDrop(leak=1.0).aggregate(jac), jac.sum(dim=0))
    # task 0 always kept (ℓ = 1), task 1 masked with the same draws as above
    u = torch.rand(3, generator=torch.Generator().manual_seed(42)).double()
    keep1 = ((torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64) > u) & (jac[1] > 0)) | (
        (torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64) < u) & (jac[1] < 0)
    )
    expected = jac[0] + keep1.double() * jac[1]
    torch.testing.assert_close(GradDrop(leak=[1.0, 0.0], seed=42).aggregate(jac), expected)
    with pytest.raises(ValueError, match="2 leak values for 3 tasks"):
        GradDrop(leak=[0.0, 1.0]).aggregate(torch.randn(3, 4))
    with pytest.raises(ValueError, match="leak"):
        GradDrop(leak=1.5)


def test_seeded_generator_is_reproducible_and_global_rng_followed() -> None:
    jac = torch.randn(3, 50, dtype=torch.float64)
    torch.testing.assert_close(GradDrop(seed=9).aggregate(jac), GradDrop(seed=9).aggregate(jac))
    assert not torch.equal(GradDrop(seed=9).aggregate(jac), GradDrop(seed=10).aggregate(jac))
    torch.manual_seed(3)
    a = GradDrop().aggregate(jac)
    torch.manual_seed(3)
    torch.testing.assert_close(GradDrop().aggregate(jac), a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 30, dtype=torch.float64).to(dtype)
    # same draws: P is symmetric in the tasks and invariant to a common scale
    assert_permutation_invariant(GradDrop(seed=1), jac)
    assert_permutation_invariant(GradDrop(), jac)
    assert_scale_equivariant(GradDrop(seed=1), jac)


def test_degenerate_and_state() -> None:
    assert_finite_on_degenerate(GradDrop())
    assert_finite_on_degenerate(GradDrop(leak=0.3, seed=2))
    restored = assert_state_round_trip(GradDrop(seed=5), torch.randn(3, 40))
    assert restored.rng_state is not None
