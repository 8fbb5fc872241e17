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
    train_encoder_only,
)

import multitask as mt
from multitask.methods import DualProj

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registered():
    assert isinstance(mt.create_method("dualproj"), DualProj)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_hand_values(dtype):
    # mean of (1,0), (-2,1) is (-½,½), conflicting with g1: projected onto x₁ = 0 → (0,½) = g1 + ½g2
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=dtype)
    m = DualProj()
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.0, 0.5], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([1.0, 0.5], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype):
    # mean (-⅓,⅓,⅓) conflicts with g1 only: projected to (0,⅓,⅓) = ⅔g1 + ⅓g2 + ⅓g3
    jac = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-2.0, 0.0, 1.0]], dtype=dtype)
    m = DualProj()
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.0, 1 / 3, 1 / 3], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([2 / 3, 1 / 3, 1 / 3], dtype=dtype))


def test_mean_kept_when_it_conflicts_with_no_task():
    jac = torch.tensor([[1.0, 0.0], [-1.0, 3.0]], dtype=torch.float64)  # mean (0, 1.5)
    torch.testing.assert_close(DualProj().aggregate(jac), jac.mean(dim=0))


@pytest.mark.parametrize("seed", range(6))
def test_matches_cvxpy_projection_of_the_mean(seed):
    gen = torch.Generator().manual_seed(10 + seed)
    t, n = 2 + seed % 4, 6
    jac = torch.randn(t, n, generator=gen, dtype=torch.float64)
    jac[0] = -2.0 * jac[1] + 0.2 * torch.randn(n, generator=gen, dtype=torch.float64)
    y = cp.Variable(n)
    mean = jac.mean(dim=0).numpy()
    cp.Problem(cp.Minimize(cp.sum_squares(y - mean)), [jac.numpy() @ y >= 0]).solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(DualProj().aggregate(jac).numpy(), y.value, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_never_conflicts_on_random_jacobians(dtype):
    gen = torch.Generator().manual_seed(2)
    for k in range(15):
        jac = torch.randn(2 + k % 5, 6, generator=gen, dtype=torch.float64).to(dtype)
        assert_non_conflicting(DualProj(), jac)
        assert_direction_matches_weights(DualProj(), jac)


def test_permutation_and_scale():
    jac = torch.randn(4, 6, dtype=torch.float64)
    assert_permutation_invariant(DualProj(), jac)
    assert_scale_equivariant(DualProj(), jac)


def test_finite_on_degenerate_jacobians():
    assert_finite_on_degenerate(DualProj())


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    first, last = train_encoder_only(DualProj(), features)
    assert last < 0.9 * first
