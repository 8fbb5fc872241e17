import math

import cvxpy as cp
import numpy as np
import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
    train_encoder_only,
)

import multitask as mt
from multitask.methods import NashMTL

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registered():
    assert isinstance(mt.create_method("nash_mtl", update_weights_every=2), NashMTL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_hand_values(dtype):
    # G = diag(1, 4): αᵢ Gᵢᵢ αᵢ = 1 → α = (1, ½), d = (1, 1) with ‖d‖ = √T; clipped to norm 1 by default
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype)
    m = NashMTL(max_norm=0.0)
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([1.0, 1.0], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([1.0, 0.5], dtype=dtype))
    clipped = NashMTL()
    torch.testing.assert_close(clipped.aggregate(jac), torch.full((2,), 1 / math.sqrt(2), dtype=dtype))
    torch.testing.assert_close(clipped.last_weights, torch.tensor([1.0, 0.5], dtype=dtype) / math.sqrt(2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype):
    # G = [[2,1,0],[1,2,0],[0,0,4]]: 3α₁² = 1 for the symmetric pair, 4α₃² = 1 → α = (1/√3, 1/√3, ½)
    jac = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]], dtype=dtype)
    m = NashMTL(max_norm=0.0)
    m.aggregate(jac)
    r3 = 1 / math.sqrt(3)
    torch.testing.assert_close(m.last_weights, torch.tensor([r3, r3, 0.5], dtype=dtype))


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e8])
def test_bargaining_condition_on_random_full_rank_gramians(scale):
    gen = torch.Generator().manual_seed(5)
    for t in (2, 3, 4, 6, 8):
        jac = torch.randn(t, 3 * t, generator=gen, dtype=torch.float64) * (
            0.2 + torch.rand(t, 1, generator=gen)
        )
        gram = (scale * jac) @ (scale * jac).T
        m = NashMTL(max_norm=0.0)  # the paper's defaults otherwise: optim_niter=20
        m.weights(gram)
        alpha = m.prev_weights.double()
        rel = (gram @ alpha) * alpha - 1.0  # (Gα)ᵢ = 1/αᵢ
        assert float(rel.abs().max()) < 1e-4, (t, scale, rel)


def test_direction_is_the_bargaining_solution_of_the_paper():
    """cvxpy reference on the primal problem: argmax Σ log(gᵢᵀd) over ‖d‖ ≤ 1."""
    gen = torch.Generator().manual_seed(11)
    for t in (2, 3, 5):
        jac = torch.randn(t, 8, generator=gen, dtype=torch.float64)
        d = cp.Variable(8)
        cp.Problem(cp.Maximize(cp.sum(cp.log(jac.numpy() @ d))), [cp.norm(d) <= 1]).solve(solver=cp.CLARABEL)
        np.testing.assert_allclose(NashMTL(max_norm=1.0).aggregate(jac).numpy(), d.value, atol=2e-5)


def test_weights_are_reused_between_updates_and_warm_started():
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    m = NashMTL(max_norm=0.0, update_weights_every=2)
    m.aggregate(jac)
    first = m.last_weights.clone()
    m.aggregate(2.0 * jac)  # step 1: not an update step, the weights of step 0 are reused
    torch.testing.assert_close(m.last_weights, first)
    m.aggregate(2.0 * jac)  # step 2: recomputed, α halves when J doubles
    torch.testing.assert_close(m.last_weights, first / 2)
    assert m.prev_solution is not None
    with pytest.raises(ValueError, match="number of tasks changed from 2 to 3"):
        m.aggregate(torch.eye(3, dtype=torch.float64))
    m.reset()
    assert m.aggregate(torch.eye(3, dtype=torch.float64)).shape == (3,)


def test_state_round_trip():
    jac = torch.randn(3, 5, dtype=torch.float64)
    restored = assert_state_round_trip(NashMTL(update_weights_every=2), jac, steps=3)
    assert restored.prev_weights is not None and restored.prev_solution is not None


def test_properties():
    jac = torch.randn(4, 7, dtype=torch.float64)
    assert_permutation_invariant(NashMTL(), jac)
    assert_direction_matches_weights(NashMTL(), jac)
    assert_scale_equivariant(NashMTL(max_norm=0.0), jac, degree=0.0)  # ‖d‖ = √T at every scale
    assert_finite_on_degenerate(NashMTL())
    assert_finite_on_degenerate(NashMTL(max_norm=0.0))


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="update_weights_every"):
        NashMTL(update_weights_every=0)
    with pytest.raises(ValueError, match="max_norm"):
        NashMTL(max_norm=float("inf"))


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    first, last = train_encoder_only(NashMTL(), features)
    assert last < 0.9 * first
