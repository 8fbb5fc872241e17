import math

import pytest
import torch

import multitask as mt
from multitask.methods import GLS


def test_registered():
    assert isinstance(mt.create_method("gls"), GLS)


def test_two_tasks_hand_values(step):
    total, w = step(GLS(), [2.0, 8.0])
    assert total.item() == pytest.approx(4.0)  # √16
    assert w.tolist() == pytest.approx([1.0, 0.25])  # G/(T Lₜ)


def test_three_tasks_hand_values(step, grad_wrt_losses):
    total, w = step(GLS(), [1.0, 2.0, 4.0])
    assert total.item() == pytest.approx(2.0)  # ∛8
    assert w.tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 6])
    grad, _ = grad_wrt_losses(GLS(), [1.0, 2.0, 4.0])
    assert grad.tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 6])


def test_matches_direct_product_reference():
    losses = torch.rand(5, dtype=torch.float64) + 0.1
    a = losses.clone().requires_grad_(True)
    b = losses.clone().requires_grad_(True)
    ours = GLS().combine(a)
    ref = torch.prod(b) ** (1.0 / 5)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(torch.autograd.grad(ours, a)[0], torch.autograd.grad(ref, b)[0])


def test_gradient_direction_invariant_to_loss_scales():
    def direction(scales):
        theta = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
        q1 = ((theta - torch.tensor([1.0, 0.0], dtype=torch.float64)) ** 2).sum() + 0.1
        q2 = ((theta - torch.tensor([0.0, 2.0], dtype=torch.float64)) ** 2).sum() + 0.1
        (g,) = torch.autograd.grad(GLS().combine(torch.stack([scales[0] * q1, scales[1] * q2])), theta)
        return g / g.norm()

    torch.testing.assert_close(direction([1.0, 1.0]), direction([1e-4, 1e6]))


def test_permutation(step):
    losses = torch.tensor([0.3, 2.0, 7.0], dtype=torch.float64)
    perm = torch.tensor([1, 2, 0])
    total, w = step(GLS(), losses)
    total_p, wp = step(GLS(), losses[perm])
    torch.testing.assert_close(wp, w[perm])
    torch.testing.assert_close(total_p, total)


def test_no_overflow_for_many_large_losses():
    losses = torch.full((10,), 1e8, dtype=torch.float32)  # the plain product 1e80 overflows float32
    total = GLS().combine(losses)
    assert total.item() == pytest.approx(1e8, rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extremes(dtype, grad_wrt_losses):
    grad, w = grad_wrt_losses(GLS(), [0.0, 1e-8, 1e8], dtype=dtype)
    assert torch.isfinite(grad).all() and torch.isfinite(w).all()
    assert grad[0].item() == 0.0 and w[0].item() == 0.0  # a task at 0 is clamped: no gradient
    total = GLS().combine(torch.tensor([1e-8, 1e-8], dtype=dtype))
    assert total.item() == pytest.approx(1e-8, rel=1e-5)
    assert math.isfinite(GLS().combine(torch.tensor([0.0, 0.0], dtype=dtype)).item())


def test_negative_loss_names_the_task():
    with pytest.raises(ValueError, match="'b'"):
        GLS().combine(torch.tensor([1.0, -1e-3]), ["a", "b"])


def test_state_roundtrip(step, roundtrip):
    m = GLS(eps=1e-9)
    step(m, [1.0, 2.0])
    fresh = roundtrip(m, GLS(eps=1e-9))
    assert fresh.step_count == 1
    assert torch.equal(step(fresh, [3.0, 4.0])[1], step(m, [3.0, 4.0])[1])
