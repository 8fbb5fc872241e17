import pytest
import torch

import multitask as mt
from multitask.methods import RLW


def test_registered():
    assert isinstance(mt.create_method("rlw", seed=1), RLW)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_weights_are_softmax_of_standard_normal_draws(num_tasks, step):
    m = RLW(seed=123)
    reference = torch.Generator().manual_seed(123)
    for _ in range(3):
        losses = torch.rand(num_tasks, dtype=torch.float64)
        total, w = step(m, losses)
        expected = torch.softmax(torch.randn(num_tasks, generator=reference, dtype=torch.float64), dim=0)
        torch.testing.assert_close(w, expected)
        torch.testing.assert_close(total, (expected * losses).sum())
        assert w.sum().item() == pytest.approx(1.0) and (w > 0).all()


def test_weights_do_not_depend_on_losses(step):
    a, b = RLW(seed=5), RLW(seed=5)
    for _ in range(3):
        _, wa = step(a, [1.0, 2.0, 3.0])
        _, wb = step(b, [1e8, 0.0, 1e-8])
        assert torch.equal(wa, wb)


def test_expected_weight_is_uniform(step):
    m = RLW(seed=0)
    draws = torch.stack([step(m, [1.0, 1.0, 1.0])[1] for _ in range(2000)])
    assert draws.mean(0).tolist() == pytest.approx([1 / 3] * 3, abs=0.02)
    assert draws.std(0).min() > 0.05  # they really are random


def test_global_seed_makes_runs_reproducible(step):
    torch.manual_seed(7)
    a = RLW()
    torch.manual_seed(7)
    b = RLW()
    assert torch.equal(step(a, [1.0, 1.0])[1], step(b, [1.0, 1.0])[1])
    torch.manual_seed(8)
    assert not torch.equal(step(RLW(), [1.0, 1.0])[1], step(a, [1.0, 1.0])[1])


def test_state_roundtrip_continues_the_stream(step, roundtrip):
    m = RLW(seed=11)
    for _ in range(3):
        step(m, [1.0, 2.0])
    fresh = roundtrip(m, RLW(seed=99))
    for _ in range(3):
        assert torch.equal(step(m, [1.0, 2.0])[1], step(fresh, [1.0, 2.0])[1])


def test_reset_restarts_the_stream(step):
    m = RLW(seed=3)
    first = step(m, [1.0, 2.0])[1]
    step(m, [1.0, 2.0])
    m.reset()
    assert torch.equal(step(m, [1.0, 2.0])[1], first)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_extremes(dtype, step):
    total, w = step(RLW(seed=0), torch.tensor([0.0, 1e-8, 1e8], dtype=dtype))
    assert w.dtype == dtype and torch.isfinite(total)


def test_errors():
    with pytest.raises(ValueError, match="'b'"):
        RLW(seed=0).combine(torch.tensor([1.0, float("inf")]), ["a", "b"])
    with pytest.raises(ValueError, match="num_tasks=3"):
        RLW(num_tasks=3, seed=0).combine(torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError):
        RLW(seed=1.5)
    with pytest.raises(ValueError):
        RLW(seed=0).generator_state = torch.zeros(3)
