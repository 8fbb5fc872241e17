import math

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods import UW


def test_registered():
    assert isinstance(mt.create_method("uw", num_tasks=2), UW)


def test_two_tasks_hand_values(step, grad_wrt_losses):
    m = UW(2)
    with torch.no_grad():
        m.log_vars.copy_(torch.tensor([0.0, math.log(2.0)]))
    total, w = step(m, [1.0, 4.0])
    # ½·e⁰·1 + ½·0 + ½·½·4 + ½·log 2
    assert total.item() == pytest.approx(0.5 + 1.0 + 0.5 * math.log(2.0))
    assert w.tolist() == pytest.approx([0.5, 0.25])
    grad, _ = grad_wrt_losses(m, [1.0, 4.0])
    assert grad.tolist() == pytest.approx([0.5, 0.25])


def test_three_tasks_and_log_variance_gradient(step):
    m = UW(3)
    with torch.no_grad():
        m.log_vars.copy_(torch.tensor([0.0, math.log(2.0), -math.log(2.0)]))
    total, w = step(m, [2.0, 2.0, 2.0])
    assert total.item() == pytest.approx(1.0 + 0.5 + 2.0)  # the ½sₜ terms cancel
    assert w.tolist() == pytest.approx([0.5, 0.25, 1.0])
    total.backward()
    # ∂/∂sₜ = −½ e^{−sₜ} Lₜ + ½
    assert m.log_vars.grad.tolist() == pytest.approx([-0.5, 0.0, -1.5], abs=1e-6)


def test_log_variances_converge_to_log_losses():
    losses = torch.tensor([0.5, 8.0])
    m = UW(2)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        m.combine(losses).backward()
        opt.step()
    assert m.log_vars.detach().tolist() == pytest.approx(torch.log(losses).tolist(), abs=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extremes(dtype, grad_wrt_losses):
    m = UW(4)
    grad, w = grad_wrt_losses(m, [0.0, 1e-8, 1e8, -3.0], dtype=dtype)
    assert torch.isfinite(grad).all() and torch.isfinite(w).all()
    assert grad.dtype == dtype


def test_errors_name_the_task():
    m = UW(2)
    with pytest.raises(ValueError, match="'b'"):
        m.combine(torch.tensor([1.0, float("nan")]), ["a", "b"])
    with pytest.raises(ValueError, match="num_tasks=2"):
        m.combine(torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError):
        UW(0)
    with pytest.raises(TypeError):
        UW(2.5)


def test_state_roundtrip(step, roundtrip):
    m = UW(3, init=0.3)
    step(m, [1.0, 2.0, 3.0])
    fresh = roundtrip(m, UW(3))
    assert torch.equal(fresh.log_vars, m.log_vars)
    assert fresh.step_count == 1


def test_backward_trains_log_variances_and_network():
    torch.manual_seed(0)
    enc = nn.Linear(3, 4)
    heads = nn.ModuleList([nn.Linear(4, 1) for _ in range(2)])
    x, ys = torch.randn(8, 3), [torch.randn(8, 1), 10 * torch.randn(8, 1)]
    m = UW(2)
    z = enc(x)
    losses = {f"t{i}": ((h(z) - y) ** 2).mean() for i, (h, y) in enumerate(zip(heads, ys))}
    ref = [torch.autograd.grad(v, enc.weight, retain_graph=True)[0] for v in losses.values()]
    info = mt.backward(losses, m, shared=enc.parameters())
    assert info.weights.tolist() == pytest.approx([0.5, 0.5])
    torch.testing.assert_close(enc.weight.grad, 0.5 * ref[0] + 0.5 * ref[1])
    values = torch.stack([v.detach() for v in losses.values()])
    torch.testing.assert_close(m.log_vars.grad, -0.5 * values + 0.5)
