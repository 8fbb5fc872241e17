import math

import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_state_round_trip,
    train_encoder_only,
)
from torch import nn

import multitask as mt
from multitask.methods import GradVac

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _reference(jac, targets, orders, beta, groups):
    """Direct transcription of Algorithm 1 on J itself (per block), the EMA updated at every visit."""
    t = jac.shape[0]
    out, new = [], targets.clone()
    for k, block in enumerate(jac.split(groups, dim=1)):
        pc = block.clone()
        for i in range(t):
            for j in orders[i].tolist():
                gi, gj = pc[i], block[j]
                phi = float(gi @ gj / (gi.norm() * gj.norm()))
                hat = float(new[i, j, k])
                if phi < hat:
                    coef = gi.norm() * (hat * math.sqrt(1 - phi**2) - phi * math.sqrt(1 - hat**2))
                    pc[i] = gi + gj * coef / (gj.norm() * math.sqrt(1 - hat**2))
                new[i, j, k] = (1 - beta) * hat + beta * phi
        out.append(pc.sum(dim=0))
    return torch.cat(out), new


def test_registered():
    assert isinstance(mt.create_method("gradvac", beta=0.5), GradVac)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_hand_values_first_step(dtype):
    # φ̂ = 0 at the start: each conflicting pair is made orthogonal (like PCGrad);
    # g1 = (1,0), g2 = (-1,1), cos = -1/√2: g1' = g1 + ½g2 = (½,½), g2' = g2 + g1 = (0,1)
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=dtype)
    m = GradVac(beta=0.01)
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.5, 1.5], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([2.0, 1.5], dtype=dtype))
    expected = 0.01 * -1 / math.sqrt(2)  # EMA: (1-β)·0 + β·φ
    torch.testing.assert_close(m.targets[0, 1, 0].item(), expected)
    torch.testing.assert_close(m.targets[1, 0, 0].item(), expected)


def test_correction_reaches_the_target_cosine():
    # orthogonal unit gradients, target ½: g1' = g1 + g2/√3 has cosine ½ with g2 (and symmetrically)
    jac = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    m = GradVac(beta=0.5)
    m.targets = torch.full((2, 2, 1), 0.5, dtype=torch.float64)
    d = m.aggregate(jac)
    c = 1 / math.sqrt(3)
    torch.testing.assert_close(d, torch.tensor([1 + c, 1 + c], dtype=torch.float64))
    g1p = jac[0] + c * jac[1]
    assert float(g1p @ jac[1] / g1p.norm()) == pytest.approx(0.5)
    torch.testing.assert_close(m.targets[0, 1, 0].item(), 0.25)  # ½·½ + ½·0


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype):
    # g3 conflicts with g1 only (cos = -1/√2): g1' = g1 + ½g3, g3' = g3 + g1, g2 untouched, in any order
    jac = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]], dtype=dtype)
    for seed in range(3):
        m = GradVac(seed=seed)
        torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.5, 1.0, 1.5], dtype=dtype))
        torch.testing.assert_close(m.last_weights, torch.tensor([2.0, 1.0, 1.5], dtype=dtype))


@pytest.mark.parametrize("groups", ["whole", [3, 4]])
def test_matches_direct_reference_over_several_steps(groups):
    gen = torch.Generator().manual_seed(3)
    jac0 = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    m = GradVac(beta=0.3, groups=groups, seed=42)
    shadow = GradVac(seed=42)  # same generator: draws the same orders
    sizes = [7] if groups == "whole" else groups
    targets = torch.zeros(4, 4, len(sizes), dtype=torch.float64)
    for _ in range(4):
        jac = jac0 + 0.5 * torch.randn(4, 7, generator=gen, dtype=torch.float64)
        expected, targets = _reference(jac, targets, shadow.orders(4), 0.3, sizes)
        torch.testing.assert_close(m.aggregate(jac), expected)
        torch.testing.assert_close(m.targets, targets)
    assert (m.last_weights is None) == (groups != "whole")


def test_seeded_orders_are_reproducible_and_permutations():
    orders = GradVac(seed=1).orders(5)
    assert orders.shape == (5, 4)
    for i, row in enumerate(orders.tolist()):
        assert sorted(row) == [j for j in range(5) if j != i]
    torch.testing.assert_close(GradVac(seed=1).orders(5), orders)


def test_state_round_trip():
    jac = torch.randn(3, 6, dtype=torch.float64)
    restored = assert_state_round_trip(GradVac(beta=0.5, seed=3), jac, steps=3)
    assert restored.targets.abs().sum() > 0
    assert_state_round_trip(GradVac(beta=0.5, groups=[2, 4]), jac, steps=2)  # global generator


def test_properties_and_degenerate():
    jac = torch.randn(4, 6, dtype=torch.float64)
    # the rule is order-dependent, but two tasks have a single order
    assert_permutation_invariant(GradVac(beta=0.5), jac[:2])
    assert_direction_matches_weights(GradVac(), jac)
    assert_finite_on_degenerate(GradVac())
    assert_finite_on_degenerate(GradVac(groups=[2, 3]))


def test_errors():
    with pytest.raises(ValueError, match="beta"):
        GradVac(beta=1.5)
    with pytest.raises(ValueError, match="groups"):
        GradVac(groups="layer")
    with pytest.raises(ValueError, match="add up to 5, but the Jacobian has 6 columns"):
        GradVac(groups=[2, 3]).aggregate(torch.randn(2, 6))
    m = GradVac()
    m.aggregate(torch.randn(2, 4))
    with pytest.raises(ValueError, match="call reset"):
        m.aggregate(torch.randn(3, 4))


def test_per_block_through_the_engine():
    torch.manual_seed(1)
    enc = nn.Linear(3, 4)
    x = torch.randn(8, 3)
    z = enc(x)
    losses = [z[:, 0].pow(2).mean(), -z[:, 1].mean() + z[:, 0].mean(), z.sum(dim=1).pow(2).mean()]
    sizes = [p.numel() for p in enc.parameters()]
    m = GradVac(groups=sizes, seed=0)
    info = mt.backward(losses, m, shared=list(enc.parameters()))
    assert info.weights is None
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters())
    assert m.targets.shape == (3, 3, 2)


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    first, last = train_encoder_only(GradVac(), features)
    assert last < 0.9 * first
