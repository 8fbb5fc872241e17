"""MGDA: hand-worked min-norm points, the paper's normalisations, and the shared properties."""

from __future__ import annotations

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
from multitask.methods import MGDA

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registered() -> None:
    assert isinstance(mt.create_method("mgda"), MGDA)
    assert MGDA.needs == "gramian"


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_hand_values(dtype: torch.dtype) -> None:
    m = MGDA()
    # orthogonal unit vectors → ½, ½
    d = m.aggregate(torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([0.5, 0.5], dtype=dtype))
    torch.testing.assert_close(d, torch.tensor([0.5, 0.5], dtype=dtype))
    # g₁ = (1, 0), g₂ = (0, 2): γ = (4 − 0)/(1 + 4) = 0.8; d = (0.8, 0.4) ⟂ g₁ − g₂
    d = m.aggregate(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([0.8, 0.2], dtype=dtype))
    torch.testing.assert_close(d, torch.tensor([0.8, 0.4], dtype=dtype))
    # opposite gradients: Pareto-stationary, d = 0
    d = m.aggregate(torch.tensor([[1.0, 2.0], [-2.0, -4.0]], dtype=dtype))
    torch.testing.assert_close(d, torch.zeros(2, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype: torch.dtype) -> None:
    m = MGDA()
    d = m.aggregate(torch.eye(3, dtype=dtype))
    torch.testing.assert_close(d, torch.full((3,), 1 / 3, dtype=dtype))
    # (1,0), (0,1), (2,2): the third gradient is inactive
    d = m.aggregate(torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([0.5, 0.5, 0.0], dtype=dtype))
    torch.testing.assert_close(d, torch.tensor([0.5, 0.5], dtype=dtype))
    # (3,0), (0,3), (1,1): the vertex (1,1) is the point of the triangle nearest the origin
    d = m.aggregate(torch.tensor([[3.0, 0.0], [0.0, 3.0], [1.0, 1.0]], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([0.0, 0.0, 1.0], dtype=dtype))
    torch.testing.assert_close(d, torch.tensor([1.0, 1.0], dtype=dtype))


def test_normalizations_hand_values() -> None:
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    losses = torch.tensor([2.0, 1.0], dtype=torch.float64)
    # l2: unit gradients (1,0), (0,1) → ½, ½ applied to the original gradients
    m = MGDA(normalization="l2")
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.5, 1.0], dtype=torch.float64))
    # loss: ĝ = (0.5, 0), (0, 2): γ = 4/(0.25 + 4) = 16/17
    m = MGDA(normalization="loss")
    assert m.uses_losses
    d = m.aggregate(jac, losses)
    torch.testing.assert_close(m.last_weights, torch.tensor([16 / 17, 1 / 17], dtype=torch.float64))
    torch.testing.assert_close(d, torch.tensor([16 / 17, 2 / 17], dtype=torch.float64))
    # loss+: divide by L·‖g‖ = 2 and 2: ĝ = (0.5, 0), (0, 1): γ = 1/1.25 = 0.8
    m = MGDA(normalization="loss+")
    d = m.aggregate(jac, losses)
    torch.testing.assert_close(m.last_weights, torch.tensor([0.8, 0.2], dtype=torch.float64))
    torch.testing.assert_close(d, torch.tensor([0.8, 0.4], dtype=torch.float64))


def test_loss_normalization_errors() -> None:
    jac = torch.eye(2)
    with pytest.raises(ValueError, match="loss values"):
        MGDA(normalization="loss").aggregate(jac)
    with pytest.raises(ValueError, match=r"positive losses; tasks \[1\]"):
        MGDA(normalization="loss+").aggregate(jac, torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="normalization"):
        MGDA(normalization="l1")
    assert not MGDA().uses_losses and not MGDA(normalization="l2").uses_losses


@pytest.mark.parametrize("dtype", DTYPES)
def test_direction_never_conflicts(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    for t, n in [(2, 5), (3, 4), (5, 8), (6, 3)]:
        jac = torch.randn(t, n, generator=gen, dtype=torch.float64).to(dtype)
        d = assert_non_conflicting(MGDA(), jac)
        # and it is the min-norm element: no convex combination of the rows is shorter (checked on
        # the vertices and the centroid)
        sq = float(d @ d)
        for cand in [*jac, jac.mean(dim=0)]:
            assert sq <= float(cand @ cand) * (1 + 1e-5) + 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 6, dtype=torch.float64).to(dtype)
    assert_permutation_invariant(MGDA(), jac)
    assert_scale_equivariant(MGDA(), jac)
    assert_direction_matches_weights(MGDA(), jac)
    assert_direction_matches_weights(MGDA(normalization="l2"), jac)


def test_degenerate_inputs() -> None:
    for norm in ("none", "l2", "loss+"):
        assert_finite_on_degenerate(lambda norm=norm: MGDA(normalization=norm))


def test_state_round_trip() -> None:
    restored = assert_state_round_trip(MGDA(normalization="loss"), torch.randn(3, 4))
    assert restored.normalization == "loss"
