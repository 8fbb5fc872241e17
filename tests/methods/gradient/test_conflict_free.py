import math

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
from multitask.methods import ConFIG

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _reference(jac: np.ndarray) -> np.ndarray:
    """The official recipe on J itself: least-squares solution of Û x = 1, then projection length."""
    units = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    g_u = np.linalg.lstsq(units, np.ones(jac.shape[0]), rcond=None)[0]
    unit = g_u / np.linalg.norm(g_u)
    return (jac @ unit).sum() * unit


def test_registered():
    assert isinstance(mt.create_method("config"), ConFIG)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_orthogonal_tasks_hand_values(dtype):
    # Û = I, g_u = (1,1), length = (1 + 2)/√2: d = (1.5, 1.5) = 1.5 g1 + 0.75 g2
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype)
    m = ConFIG()
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([1.5, 1.5], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([1.5, 0.75], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_conflicting_tasks_hand_values(dtype):
    # g1 = (1,0), g2 = (-1,1): Û x = 1 gives g_u = (1, 1+√2); d = (1, 1+√2) / (2√2)
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=dtype)
    r2 = math.sqrt(2.0)
    expected = torch.tensor([1.0, 1.0 + r2], dtype=dtype) / (2 * r2)
    torch.testing.assert_close(ConFIG().aggregate(jac), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype):
    # axes with norms 1, 2, 3: g_u = (1,1,1), length 6/√3: d = (2,2,2), w = (2, 1, ⅔)
    jac = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=dtype))
    m = ConFIG()
    torch.testing.assert_close(m.aggregate(jac), torch.full((3,), 2.0, dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([2.0, 1.0, 2 / 3], dtype=dtype))


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_official_recipe_on_j(seed):
    gen = torch.Generator().manual_seed(seed)
    jac = torch.randn(2 + seed, 9, generator=gen, dtype=torch.float64)
    np.testing.assert_allclose(
        ConFIG().aggregate(jac).numpy(), _reference(jac.numpy()), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_equal_positive_cosine_with_every_task(dtype):
    gen = torch.Generator().manual_seed(4)
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    for t in (2, 3, 5):
        jac = (torch.randn(t, 8, generator=gen, dtype=torch.float64) * torch.rand(t, 1, generator=gen)).to(
            dtype
        )
        jac[0] = -jac[1] + 0.1 * jac[0]  # a strong conflict
        d = ConFIG().aggregate(jac)
        cos = (jac @ d) / (jac.norm(dim=1) * d.norm())
        assert (cos > 0).all()
        torch.testing.assert_close(cos, cos.mean().expand(t), rtol=rtol, atol=0.0)
        assert_non_conflicting(ConFIG(), jac)
        assert_direction_matches_weights(ConFIG(), jac)


def test_permutation_and_scale():
    jac = torch.randn(4, 7, dtype=torch.float64)
    assert_permutation_invariant(ConFIG(), jac)
    assert_scale_equivariant(ConFIG(), jac)


def test_zero_gradient_task_gets_zero_weight_and_opposite_gives_zero():
    jac = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    m = ConFIG()
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([1.5, 1.5], dtype=torch.float64))
    assert m.last_weights[1] == 0
    opposite = torch.tensor([[1.0, 2.0], [-1.0, -2.0]], dtype=torch.float64)
    assert ConFIG().aggregate(opposite).abs().max() == 0


def test_finite_on_degenerate_jacobians():
    assert_finite_on_degenerate(ConFIG())


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    first, last = train_encoder_only(ConFIG(), features)
    assert last < 0.9 * first
