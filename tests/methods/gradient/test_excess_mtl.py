"""ExcessMTL: excess-risk estimates and exponentiated-gradient weights by hand, scale invariance, state."""

from __future__ import annotations

import math

import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_state_round_trip,
    train_two_layer,
)

import multitask as mt
from multitask.methods import ExcessMTL

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _t(x: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def test_registered_and_defaults() -> None:
    m = mt.create_method("excess_mtl")
    assert isinstance(m, ExcessMTL) and m.needs == "jacobian" and m.supports_features
    assert m.robust_step_size == 1e-2 and m.eps == 1e-7 and m.feature_dim is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_steps_by_hand(dtype: torch.dtype) -> None:
    m = ExcessMTL(robust_step_size=0.5, eps=1e-20)
    # step 1: a = g², e₁ = 9/3 + 16/4 = 7, e₂ = 0 + 1/1 = 1; weights stay 1, d = g₁ + g₂
    d = m.aggregate(_t([[3.0, 4.0], [0.0, 1.0]], dtype))
    torch.testing.assert_close(m.last_excess, _t([7.0, 1.0], dtype))
    torch.testing.assert_close(d, _t([3.0, 5.0], dtype))
    torch.testing.assert_close(m.last_weights, _t([1.0, 1.0], dtype))
    # step 2: g₂ = (0, 2): a₁ = (18, 32), a₂ = (0, 5); e₁ = 9/√18 + 16/√32 = 7/√2, e₂ = 4/√5
    # ratios (1/√2, 4/√5); w ∝ exp(½ ratio), normalised to sum 2
    d = m.aggregate(_t([[3.0, 4.0], [0.0, 2.0]], dtype))
    torch.testing.assert_close(m.last_excess, _t([7 / math.sqrt(2), 4 / math.sqrt(5)], dtype))
    e1, e2 = math.exp(0.5 / math.sqrt(2)), math.exp(0.5 * 4 / math.sqrt(5))
    w = [2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)]
    torch.testing.assert_close(m.last_weights, _t(w, dtype))
    torch.testing.assert_close(d, _t([3 * w[0], 4 * w[0] + 2 * w[1]], dtype))


def test_three_tasks_multiplicative_update_by_hand() -> None:
    m = ExcessMTL(robust_step_size=1.0, eps=1e-20)
    jac = _t([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    m.aggregate(jac)  # eᵢ⁰ = gᵢ²/|gᵢ| = (1, 2, 3)
    # the same J again: aᵢ = 2gᵢ², eᵢ = gᵢ²/(√2|gᵢ|), so every ratio is 1/√2 and the weights stay 1
    m.aggregate(jac)
    torch.testing.assert_close(m.last_weights, _t([1.0, 1.0, 1.0]))
    # now only task 3 keeps its gradient: a₃ = 27 in its coordinate, ratios (0, 0, (9/√27)/3)
    m.aggregate(_t([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 3.0]]))
    r3 = (9 / math.sqrt(27)) / 3
    w = torch.softmax(_t([0.0, 0.0, r3]), dim=0) * 3
    torch.testing.assert_close(m.last_weights, w)
    assert float(w[2]) > 1.0 > float(w[0])


def test_weights_ignore_each_tasks_gradient_scale() -> None:
    # eᵢ is homogeneous of degree 1 in gᵢ (as ε → 0), and the weights use eᵢ / eᵢ⁰: scaling task i's
    # gradients by cᵢ at every step leaves the weights unchanged
    gen = torch.Generator().manual_seed(3)
    steps = [torch.randn(3, 6, generator=gen, dtype=torch.float64) for _ in range(5)]
    scales = _t([[1e-3], [1.0], [1e3]])
    a, b = ExcessMTL(robust_step_size=0.3, eps=1e-30), ExcessMTL(robust_step_size=0.3, eps=1e-30)
    for jac in steps:
        a.aggregate(jac)
        b.aggregate(jac * scales)
    torch.testing.assert_close(b.last_weights, a.last_weights, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(a.last_weights, torch.ones(3, dtype=torch.float64))


def test_task_far_from_its_optimum_gains_weight() -> None:
    # task 1 converges (its gradient shrinks), task 2 does not: the excess-risk ratio of task 2 stays
    # higher, so its weight grows monotonically
    m = ExcessMTL(robust_step_size=0.1)
    weights = []
    for k in range(8):
        m.aggregate(_t([[0.5**k, 1.0, 0.0], [0.0, 1.0, 1.0]]))
        weights.append(float(m.last_weights[1]))
    assert weights[0] == 1.0
    assert all(later > earlier for earlier, later in zip(weights[1:], weights[2:]))
    assert abs(float(m.last_weights.sum()) - 2.0) < 1e-12


def test_feature_dim_sums_over_the_batch() -> None:
    # features mode: rows viewed as [batch, feature_dim] and summed over the batch, so a smaller batch
    # (the last one of an epoch) keeps the state's shape
    m = ExcessMTL(feature_dim=2, eps=1e-20)
    jac = _t([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 3.0]])  # batch 2, feature_dim 2
    m.aggregate(jac)
    torch.testing.assert_close(m.grad_sq_sum, _t([[9.0, 0.0], [0.0, 16.0]]))
    torch.testing.assert_close(m.last_excess, _t([3.0, 4.0]))
    m.aggregate(_t([[3.0, 0.0], [0.0, 4.0]]))  # batch 1
    torch.testing.assert_close(m.grad_sq_sum, _t([[18.0, 0.0], [0.0, 32.0]]))
    with pytest.raises(ValueError, match="multiple of feature_dim=2"):
        m.aggregate(_t([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 6, dtype=torch.float64).to(dtype)
    assert_permutation_invariant(ExcessMTL(), jac)
    assert_direction_matches_weights(ExcessMTL(), jac)


def test_degenerate_and_state() -> None:
    assert_finite_on_degenerate(ExcessMTL())
    assert_finite_on_degenerate(ExcessMTL(robust_step_size=10.0))
    restored = assert_state_round_trip(
        ExcessMTL(robust_step_size=0.5), torch.randn(3, 5, dtype=torch.float64)
    )
    assert restored.loss_weights is not None and restored.initial_excess is not None


def test_extreme_scales_in_later_steps_stay_finite() -> None:
    for dtype in DTYPES:
        m = ExcessMTL(robust_step_size=1.0)
        base = torch.randn(3, 5, dtype=dtype)
        for scale in (1e-8, 1e8, 1.0, 1e-8):
            d = m.aggregate(base * scale)
            assert torch.isfinite(d).all() and torch.isfinite(m.last_weights).all()
        assert abs(float(m.last_weights.sum()) - 3.0) < 1e-4


def test_errors() -> None:
    m = ExcessMTL()
    m.aggregate(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"accumulator holds \(2, 4\).*feature_dim.*reset"):
        m.aggregate(torch.randn(2, 5))
    with pytest.raises(ValueError, match="robust_step_size"):
        ExcessMTL(robust_step_size=-1.0)
    with pytest.raises(ValueError, match="eps"):
        ExcessMTL(eps=0.0)
    with pytest.raises(TypeError, match="feature_dim"):
        ExcessMTL(feature_dim=2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_lowers_the_loss(features: bool) -> None:
    first, last = train_two_layer(ExcessMTL(feature_dim=16 if features else None), features=features)
    assert last < 0.5 * first
