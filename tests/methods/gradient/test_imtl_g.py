"""IMTL-G: hand values, the paper's closed form computed from J, and equal projections."""

from __future__ import annotations

import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
)

import multitask as mt
from multitask.methods import IMTLG

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _paper_closed_form(jac: torch.Tensor) -> torch.Tensor:
    """α₂:T = g₁Uᵀ(DUᵀ)⁻¹, α₁ = 1 − Σα (Liu et al., ICLR 2021), straight from the gradients."""
    jac = jac.double()
    unit = jac / jac.norm(dim=1, keepdim=True)
    d = jac[:1] - jac[1:]
    u = unit[:1] - unit[1:]
    tail = jac[0] @ u.T @ torch.linalg.inv(d @ u.T)
    return torch.cat([1 - tail.sum(dim=0, keepdim=True), tail])


def test_registered() -> None:
    assert isinstance(mt.create_method("imtl_g"), IMTLG)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hand_values(dtype: torch.dtype) -> None:
    m = IMTLG()
    # g₁ = (1, 0), g₂ = (0, 2): projections α₁ = 2α₂, α₁ + α₂ = 1 → (2/3, 1/3), d = (2/3, 2/3)
    d = m.aggregate(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([2 / 3, 1 / 3], dtype=dtype))
    torch.testing.assert_close(d, torch.tensor([2 / 3, 2 / 3], dtype=dtype))
    # g = e₁, 2e₂, 4e₃: α₁ = 2α₂ = 4α₃ = p, p(1 + ½ + ¼) = 1 → α = (4, 2, 1)/7, d = (4, 4, 4)/7
    d = m.aggregate(torch.diag(torch.tensor([1.0, 2.0, 4.0], dtype=dtype)))
    torch.testing.assert_close(m.last_weights, torch.tensor([4 / 7, 2 / 7, 1 / 7], dtype=dtype))
    torch.testing.assert_close(d, torch.full((3,), 4 / 7, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_closed_form_and_equal_projections(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(8)
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    for t, n in [(2, 3), (3, 5), (5, 9)]:
        jac = torch.randn(t, n, generator=gen, dtype=torch.float64).to(dtype)
        m = IMTLG()
        d = m.aggregate(jac)
        torch.testing.assert_close(m.last_weights.double(), _paper_closed_form(jac), rtol=rtol, atol=rtol)
        proj = (jac / jac.norm(dim=1, keepdim=True)) @ d
        torch.testing.assert_close(proj, proj[:1].expand(t), rtol=rtol * 10, atol=rtol * 10)
        assert float(m.last_weights.sum()) == pytest.approx(1.0, rel=rtol * 10)


def test_zero_gradient_task_gets_no_weight() -> None:
    jac = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    m = IMTLG()
    d = m.aggregate(jac)
    torch.testing.assert_close(m.last_weights, torch.tensor([2 / 3, 0.0, 1 / 3], dtype=torch.float64))
    torch.testing.assert_close(d, torch.tensor([2 / 3, 2 / 3], dtype=torch.float64))


def test_collinear_gradients() -> None:
    # same direction: every split has equal projections; the minimum-norm one is uniform
    jac = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=torch.float64)
    m = IMTLG()
    d = m.aggregate(jac)
    torch.testing.assert_close(m.last_weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(d, torch.tensor([2.0, 2.0], dtype=torch.float64))
    # opposite directions: equal projections onto u and −u force d = 0
    d = m.aggregate(torch.tensor([[1.0, 1.0], [-3.0, -3.0]], dtype=torch.float64))
    torch.testing.assert_close(d, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 6, dtype=torch.float64).to(dtype)
    assert_permutation_invariant(IMTLG(), jac, rtol=1e-3 if dtype == torch.float32 else None)
    assert_scale_equivariant(IMTLG(), jac, rtol=1e-3 if dtype == torch.float32 else None)
    assert_direction_matches_weights(IMTLG(), jac)


def test_degenerate_and_state() -> None:
    assert_finite_on_degenerate(IMTLG())
    assert_state_round_trip(IMTLG(), torch.randn(3, 5))
