import math

import pytest
import torch

import multitask as mt
from multitask.methods import IMTLL


def test_registered():
    assert isinstance(mt.create_method("imtl_l", num_tasks=3), IMTLL)


def test_two_tasks_hand_values(step):
    m = IMTLL(2)
    with torch.no_grad():
        m.log_scales.copy_(torch.tensor([0.0, math.log(2.0)]))
    total, w = step(m, [3.0, 1.0])
    assert total.item() == pytest.approx(3.0 + 2.0 - math.log(2.0))
    assert w.tolist() == pytest.approx([1.0, 2.0])
    total.backward()
    assert m.log_scales.grad.tolist() == pytest.approx([2.0, 1.0])  # e^s L − 1


def test_three_tasks_hand_values(step, grad_wrt_losses):
    m = IMTLL(3)
    with torch.no_grad():
        m.log_scales.copy_(torch.tensor([0.0, 0.0, math.log(0.5)]))
    total, w = step(m, [1.0, 2.0, 4.0])
    assert total.item() == pytest.approx(1.0 + 2.0 + 2.0 + math.log(2.0))
    assert w.tolist() == pytest.approx([1.0, 1.0, 0.5])
    grad, _ = grad_wrt_losses(m, [1.0, 2.0, 4.0])
    assert grad.tolist() == pytest.approx([1.0, 1.0, 0.5])


def test_scaled_losses_are_equalised():
    """The fixed point makes every scaled loss exp(s)·L equal to 1, whatever the loss scales."""
    losses = torch.tensor([0.01, 1.0, 100.0])
    m = IMTLL(3)
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        m.combine(losses).backward()
        opt.step()
    assert m.log_scales.detach().tolist() == pytest.approx((-torch.log(losses)).tolist(), abs=1e-3)
    assert (m.last_weights * losses).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extremes(dtype, grad_wrt_losses):
    grad, w = grad_wrt_losses(IMTLL(3), [0.0, 1e-8, 1e8], dtype=dtype)
    assert torch.isfinite(grad).all() and torch.isfinite(w).all()


def test_errors():
    m = IMTLL(2)
    with pytest.raises(ValueError, match="'depth'"):
        m.combine(torch.tensor([float("inf"), 1.0]), ["depth", "seg"])
    with pytest.raises(ValueError, match="num_tasks=2"):
        m.combine(torch.tensor([1.0]))


def test_state_roundtrip(roundtrip):
    m = IMTLL(2, init=-0.7)
    fresh = roundtrip(m, IMTLL(2))
    assert fresh.log_scales.tolist() == pytest.approx([-0.7, -0.7])
