import math

import pytest
import torch

import multitask as mt
from multitask.methods import SI


def test_registered():
    assert isinstance(mt.create_method("si"), SI)


def test_two_tasks_hand_values(step, grad_wrt_losses):
    total, w = step(SI(), [2.0, 0.5])
    assert total.item() == pytest.approx(0.0, abs=1e-12)  # log 2 + log ½
    assert w.tolist() == pytest.approx([0.5, 2.0])
    grad, _ = grad_wrt_losses(SI(), [2.0, 0.5])
    assert grad.tolist() == pytest.approx([0.5, 2.0])


def test_three_tasks_hand_values(step):
    e = math.e
    total, w = step(SI(num_tasks=3), [1.0, e, e * e])
    assert total.item() == pytest.approx(3.0)
    assert w.tolist() == pytest.approx([1.0, 1 / e, 1 / e**2])


def _shared_grad(scales):
    theta = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    q1 = ((theta - torch.tensor([1.0, 0.0], dtype=torch.float64)) ** 2).sum() + 0.1
    q2 = ((theta - torch.tensor([0.0, 2.0], dtype=torch.float64)) ** 2).sum() + 0.1
    total = SI().combine(torch.stack([scales[0] * q1, scales[1] * q2]))
    (g,) = torch.autograd.grad(total, theta)
    return g


def test_gradient_invariant_to_loss_scales():
    torch.testing.assert_close(_shared_grad([1.0, 1.0]), _shared_grad([1e-6, 1e6]))


def test_permutation(step):
    losses = torch.tensor([0.3, 2.0, 7.0], dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    _, w = step(SI(), losses)
    _, wp = step(SI(), losses[perm])
    torch.testing.assert_close(wp, w[perm])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_loss_is_clamped(dtype, grad_wrt_losses):
    m = SI(eps=1e-12)
    grad, w = grad_wrt_losses(m, [0.0, 2.0], dtype=dtype)
    assert grad.tolist() == pytest.approx([0.0, 0.5])
    assert w.tolist() == pytest.approx([0.0, 0.5])
    total = m.combine(torch.tensor([0.0, 2.0], dtype=dtype))
    assert total.item() == pytest.approx(math.log(1e-12) + math.log(2.0), rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extreme_scales(dtype, grad_wrt_losses):
    grad, w = grad_wrt_losses(SI(), [1e-8, 1.0, 1e8], dtype=dtype)
    assert torch.isfinite(grad).all()
    assert grad.tolist() == pytest.approx([1e8, 1.0, 1e-8], rel=1e-5)


def test_negative_loss_names_the_task():
    with pytest.raises(ValueError, match="'nll'"):
        SI().combine(torch.tensor([1.0, -0.5]), ["mse", "nll"])


def test_bad_arguments():
    with pytest.raises(ValueError):
        SI(eps=0.0)
    with pytest.raises(ValueError, match="num_tasks=2"):
        SI(num_tasks=2).combine(torch.tensor([1.0, 2.0, 3.0]))


def test_state_roundtrip(step, roundtrip):
    m = SI()
    step(m, [1.0, 2.0])
    assert roundtrip(m, SI()).step_count == 1
