"""DB-MTL: log-loss gradients, the moving average and max-norm rescaling by hand; state and errors."""

from __future__ import annotations

import math

import pytest
import torch
from tests.methods.properties import (
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
)

import multitask as mt
from multitask.methods import DBMTL

DTYPES = (torch.float32, torch.float64)
J1 = [[3.0, 4.0], [0.0, 1.0]]
L1 = [1.0, 2.0]
J2 = [[0.0, 2.0], [1.0, 0.0]]
L2 = [2.0, 1.0]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _t(x: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def test_registered_and_modes() -> None:
    m = mt.create_method("db_mtl")
    assert isinstance(m, DBMTL) and m.uses_losses and m.needs == "jacobian"
    assert m.beta == 0.9 and m.beta_sigma == 0.0
    assert not m.supports_features and "moving average" in m.features_error


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_steps_by_hand(dtype: torch.dtype) -> None:
    m = DBMTL(beta=0.9)
    # step 1: h = J/L = [[3, 4], [0, ½]], ĝ = 0.1 h = [[0.3, 0.4], [0, 0.05]], norms (0.5, 0.05)
    # d = 0.5 (ĝ₁/0.5 + ĝ₂/0.05) = (0.3, 0.4) + (0, 0.5) = (0.3, 0.9)
    d = m.aggregate(_t(J1, dtype), _t(L1, dtype))
    torch.testing.assert_close(d, _t([0.3, 0.9], dtype))
    torch.testing.assert_close(m.last_scales, _t([1.0, 10.0], dtype))
    assert m.last_weights is None
    # step 2: h = [[0, 1], [1, 0]], ĝ = 0.9 ĝ + 0.1 h = [[0.27, 0.46], [0.1, 0.045]]
    d = m.aggregate(_t(J2, dtype), _t(L2, dtype))
    n1, n2 = math.hypot(0.27, 0.46), math.hypot(0.1, 0.045)
    expected = [0.27 + n1 / n2 * 0.1, 0.46 + n1 / n2 * 0.045]
    torch.testing.assert_close(m.grad_buffer, _t([[0.27, 0.46], [0.1, 0.045]], dtype))
    torch.testing.assert_close(d, _t(expected, dtype))
    assert m.step_count == 2


def test_decaying_beta() -> None:
    m = DBMTL(beta=0.9, beta_sigma=0.5)
    m.aggregate(_t(J1), _t(L1))  # β₁ = 0.9: same buffer as above
    m.aggregate(_t(J2), _t(L2))  # β₂ = 0.9/√2
    b2 = 0.9 / math.sqrt(2.0)
    expected = b2 * _t([[0.3, 0.4], [0.0, 0.05]]) + (1 - b2) * _t([[0.0, 1.0], [1.0, 0.0]])
    torch.testing.assert_close(m.grad_buffer, expected)


def test_invariant_to_loss_scale() -> None:
    # scaling task t's loss by kₜ scales its gradient and loss alike: ∇ log(kL) = ∇ log L
    gen = torch.Generator().manual_seed(1)
    jac = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    losses = torch.tensor([0.5, 2.0, 1.5], dtype=torch.float64)
    k = torch.tensor([10.0, 0.01, 3.0], dtype=torch.float64)
    d = DBMTL().aggregate(jac, losses)
    d_scaled = DBMTL().aggregate(jac * k[:, None], losses * k)
    torch.testing.assert_close(d_scaled, d, rtol=1e-6, atol=1e-9)


def test_balanced_magnitudes() -> None:
    # orthogonal averaged gradients: after rescaling, d projects onto each unit direction with the
    # largest norm
    jac = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    m = DBMTL(beta=0.0)
    d = m.aggregate(jac, torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(d, torch.full((3,), 5.0, dtype=torch.float64), rtol=1e-7, atol=0)


def test_errors() -> None:
    jac = torch.randn(2, 3)
    with pytest.raises(ValueError, match="loss values"):
        DBMTL().aggregate(jac)
    with pytest.raises(ValueError, match="loss values"):
        DBMTL().direction(jac)
    with pytest.raises(ValueError, match=r"positive losses; tasks \[0\]"):
        DBMTL().aggregate(jac, torch.tensor([0.0, 1.0]))
    m = DBMTL()
    m.aggregate(jac, torch.ones(2))
    with pytest.raises(ValueError, match="gradient buffer"):
        m.aggregate(torch.randn(3, 3), torch.ones(3))
    m.reset()
    assert m.grad_buffer is None and m.step_count == 0
    m.aggregate(torch.randn(3, 3), torch.ones(3))
    with pytest.raises(ValueError, match="beta"):
        DBMTL(beta=1.0)
    with pytest.raises(ValueError, match="beta_sigma"):
        DBMTL(beta_sigma=-0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 6, dtype=torch.float64).to(dtype)
    assert_permutation_invariant(DBMTL(), jac)
    assert_scale_equivariant(DBMTL(), jac)


def test_degenerate_and_state() -> None:
    assert_finite_on_degenerate(DBMTL())
    restored = assert_state_round_trip(DBMTL(beta_sigma=0.5), torch.randn(3, 5))
    assert restored.grad_buffer is not None and restored.grad_buffer.shape == (3, 5)
