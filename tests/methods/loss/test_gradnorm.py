import math

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods import GradNorm

SQRT5 = math.sqrt(5.0)


def _linear_losses(weight, coeffs):
    """Lₜ = cₜ · (W x) with x = [1, 2]: ∇_W Lₜ = cₜ x, so ‖∇_W Lₜ‖ = cₜ √5."""
    h = (weight @ torch.tensor([1.0, 2.0], dtype=torch.float64)).sum()
    return torch.stack([c * h for c in coeffs])


def test_registered():
    assert isinstance(mt.create_method("gradnorm", num_tasks=2), GradNorm)


def test_first_step_hand_values():
    W = nn.Parameter(torch.ones(1, 2, dtype=torch.float64))
    m = GradNorm(2, params=[W])
    total = m.combine(_linear_losses(W, [1.0, 2.0]))  # L = [3, 6], norms = [√5, 2√5]
    assert total.item() == pytest.approx(9.0)
    assert m.last_weights.tolist() == [1.0, 1.0]
    # r = 1, Ḡ = 1.5√5: G − Ḡ = [−½√5, ½√5]  ->  ∂L_grad/∂w = sign · ‖∇_W Lₜ‖
    assert m.loss_weights.grad.tolist() == pytest.approx([-SQRT5, 2 * SQRT5])
    total.backward()  # the objective holds w constant: nothing more reaches the weights
    assert m.loss_weights.grad.tolist() == pytest.approx([-SQRT5, 2 * SQRT5])
    assert W.grad[0].tolist() == pytest.approx([3.0, 6.0])  # ∇(L₁ + L₂) = 3x


def test_second_step_uses_inverse_training_rates():
    W = nn.Parameter(torch.ones(1, 2, dtype=torch.float64))
    m = GradNorm(2, alpha=1.5, params=[W])
    m.combine(_linear_losses(W, [1.0, 1.0]))  # L(0) = [3, 3]
    m.loss_weights.grad = None
    with torch.no_grad():
        m.loss_weights.copy_(torch.tensor([1.0, 1.0]))
    m.combine(_linear_losses(W, [2.0, 1.0]) / 2)  # L = [3, 1.5]: L̃ = [1, ½], r = [4/3, 2/3]
    norms = [SQRT5, SQRT5 / 2]
    g_bar = sum(norms) / 2
    targets = [g_bar * (4 / 3) ** 1.5, g_bar * (2 / 3) ** 1.5]
    expected = [math.copysign(n, n - t) for n, t in zip(norms, targets)]
    assert m.loss_weights.grad.tolist() == pytest.approx(expected)
    assert expected[0] < 0 < expected[1]  # the slower task (task 0) is pushed up


def test_weights_are_renormalised_at_each_step():
    W = nn.Parameter(torch.ones(1, 2, dtype=torch.float64))
    m = GradNorm(2, params=[W])
    with torch.no_grad():
        m.loss_weights.copy_(torch.tensor([3.0, 1.0]))
    m.combine(_linear_losses(W, [1.0, 1.0]))
    assert m.last_weights.tolist() == [1.5, 0.5]
    with torch.no_grad():
        m.loss_weights.copy_(torch.tensor([-1.0, 3.0]))
    m.combine(_linear_losses(W, [1.0, 1.0]))
    assert m.last_weights.tolist() == [0.0, 2.0]


def test_three_tasks_default_layer_through_backward():
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4))
    heads = nn.ModuleList([nn.Linear(4, 1) for _ in range(3)])
    x = torch.randn(16, 3)
    ys = [torch.randn(16, 1) * s for s in (1.0, 3.0, 0.1)]
    z = enc(x)
    losses = {f"t{i}": ((h(z) - y) ** 2).mean() for i, (h, y) in enumerate(zip(heads, ys))}
    last = enc[2].weight  # the last shared tensor with >= 2 dims
    norms = torch.stack([torch.autograd.grad(v, last, retain_graph=True)[0].norm() for v in losses.values()])
    shared_ref = torch.autograd.grad(sum(losses.values()), enc[0].weight, retain_graph=True)[0]
    m = GradNorm(3)
    info = mt.backward(losses, m, shared=list(enc.parameters()))
    assert info.weights.tolist() == [1.0, 1.0, 1.0]
    torch.testing.assert_close(m.loss_weights.grad, torch.sign(norms - norms.mean()) * norms)
    torch.testing.assert_close(enc[0].weight.grad, shared_ref)


def test_training_balances_gradient_norms():
    """Two tasks whose gradients differ 10x at the shared layer: GradNorm shrinks the big one's weight."""
    torch.manual_seed(0)
    shared = nn.Linear(4, 4)
    heads = nn.ModuleList([nn.Linear(4, 1) for _ in range(2)])
    x = torch.randn(32, 4)
    ys = [torch.randn(32, 1), 10.0 * torch.randn(32, 1)]
    m = GradNorm(2, alpha=0.0)
    opt = torch.optim.SGD([*shared.parameters(), *heads.parameters()], lr=1e-3)
    opt_w = torch.optim.SGD(m.parameters(), lr=0.04)
    for _ in range(20):
        z = shared(x)
        losses = [((h(z) - y) ** 2).mean() for h, y in zip(heads, ys)]
        mt.backward(losses, m, shared=list(shared.parameters()))
        opt.step()
        opt_w.step()
        opt.zero_grad()
        opt_w.zero_grad()
    m.renormalize()
    w = m.loss_weights.detach()
    assert w.sum().item() == pytest.approx(2.0)
    assert w[1] < 0.6 < 1.4 < w[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extremes(dtype):
    W = nn.Parameter(torch.ones(1, 2, dtype=dtype))
    m = GradNorm(3, params=[W])
    h = (W @ torch.tensor([1.0, 2.0], dtype=dtype)).sum()
    losses = torch.stack([0.0 * h, 1e-8 * h, 1e8 * h])
    total = m.combine(losses)
    assert torch.isfinite(total) and torch.isfinite(m.loss_weights.grad).all()
    m.combine(torch.stack([0.0 * h, 1e-8 * h, 1e8 * h]) * 0.5)  # L(0) = 0 for task 0: ratio 1
    assert torch.isfinite(m.loss_weights.grad).all()


def test_errors():
    W = nn.Parameter(torch.ones(1, 2))
    with pytest.raises(ValueError, match="shared"):
        GradNorm(2).combine(torch.stack([W.sum(), 2 * W.sum()]))
    with pytest.raises(ValueError, match="graph"):
        GradNorm(2, params=[W]).combine(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="'b'"):
        GradNorm(2, params=[W]).combine(torch.stack([W.sum(), W.sum() * float("nan")]), ["a", "b"])
    with pytest.raises(ValueError):
        GradNorm(2, params=[])
    with pytest.raises(ValueError):
        GradNorm(2, alpha=-1.0)


def test_state_roundtrip(roundtrip):
    W = nn.Parameter(torch.ones(1, 2, dtype=torch.float64))
    m = GradNorm(2, params=[W])
    m.combine(_linear_losses(W, [1.0, 2.0]))
    with torch.no_grad():
        m.loss_weights.copy_(torch.tensor([0.7, 1.3]))
    fresh = roundtrip(m, GradNorm(2, params=[W]))
    assert fresh.loss_weights.tolist() == pytest.approx([0.7, 1.3])
    assert fresh.initial_losses.tolist() == [3.0, 6.0]
    fresh.combine(_linear_losses(W, [2.0, 2.0]))
    m.loss_weights.grad = None
    m.combine(_linear_losses(W, [2.0, 2.0]))
    torch.testing.assert_close(fresh.loss_weights.grad, m.loss_weights.grad)
