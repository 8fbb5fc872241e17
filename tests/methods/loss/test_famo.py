import math

import pytest
import torch

import multitask as mt
from multitask.methods import FAMO


def _reference_adam(deltas, lr=0.025, gamma=1e-3, num_tasks=2):
    """The official update, written with torch.optim.Adam: ξ.grad = ∂(softmax(ξ)ᵀδ)/∂ξ, one Adam step."""
    xi = torch.zeros(num_tasks, requires_grad=True)
    opt = torch.optim.Adam([xi], lr=lr, weight_decay=gamma)
    for delta in deltas:
        (g,) = torch.autograd.grad(torch.softmax(xi, dim=0), xi, grad_outputs=delta.float())
        opt.zero_grad()
        xi.grad = g
        opt.step()
    return xi.detach()


def _log_gap(values, eps=1e-8):
    return torch.log(torch.tensor(values, dtype=torch.float64) + eps)


def test_registered():
    assert isinstance(mt.create_method("famo", num_tasks=2), FAMO)


def test_two_tasks_hand_values(step, grad_wrt_losses):
    total, w = step(FAMO(2, eps=1e-12), [1.0, 3.0])
    # z = [½, ½], c = ½ + ⅙ = ⅔:  L = (½ log 1 + ½ log 3) / ⅔,  w = z / (c L) = [¾, ¼]
    assert total.item() == pytest.approx(0.75 * math.log(3.0))
    assert w.tolist() == pytest.approx([0.75, 0.25])
    grad, _ = grad_wrt_losses(FAMO(2, eps=1e-12), [1.0, 3.0])
    assert grad.tolist() == pytest.approx([0.75, 0.25])


def test_three_tasks_hand_values(step):
    total, w = step(FAMO(3, eps=1e-12), [1.0, 2.0, 4.0])
    # z = ⅓, c = ⅓(1 + ½ + ¼) = 7/12:  L = ⅓ · 3 log 2 · 12/7,  w = (4/7) / L
    assert total.item() == pytest.approx(12 / 7 * math.log(2.0))
    assert w.tolist() == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert sum(w.tolist()) == pytest.approx(1.0)


def test_update_matches_official_adam_step(step):
    m = FAMO(2)
    step(m, [1.0, 3.0])
    m.update([0.5, 2.9])
    d1 = _log_gap([1.0, 3.0]) - _log_gap([0.5, 2.9])
    torch.testing.assert_close(m.logits, _reference_adam([d1]))
    assert m.logits[1] > m.logits[0]  # task 1's loss fell less: it gains weight
    step(m, [0.6, 2.0])
    m.update({"0": 0.4, "1": 1.9})
    d2 = _log_gap([0.6, 2.0]) - _log_gap([0.4, 1.9])
    torch.testing.assert_close(m.logits, _reference_adam([d1, d2]))
    _, w = step(m, [1.0, 1.0])
    assert w.tolist() == pytest.approx(torch.softmax(m.logits.double(), 0).tolist())


def test_default_uses_next_step_losses(step):
    a, b = FAMO(3), FAMO(3)
    first, second = [1.0, 2.0, 4.0], [0.9, 1.0, 3.9]
    step(a, first)
    step(a, second)  # no update() in between: the update uses these losses
    step(b, first)
    b.update(second)
    torch.testing.assert_close(a.logits, b.logits)
    assert a.prev_losses.tolist() == second and b.prev_losses is None


def test_min_losses_shift_the_gap(step):
    m = FAMO(2, min_losses=[1.0, 0.0], eps=1e-12)
    _, w = step(m, [2.0, 3.0])  # gaps [1, 3] as in the hand example
    assert w.tolist() == pytest.approx([0.75, 0.25])
    with pytest.raises(ValueError, match="'seg'"):
        m.combine(torch.tensor([0.5, 3.0], dtype=torch.float64), ["seg", "depth"])
    total, _ = step(FAMO(2, min_losses=[1.0, 0.0]), [1.0, 3.0])  # a loss at its bound is fine
    assert torch.isfinite(total)


def test_permutation(step):
    losses = torch.tensor([0.5, 2.0, 5.0], dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    _, w = step(FAMO(3), losses)
    _, wp = step(FAMO(3), losses[perm])
    torch.testing.assert_close(wp, w[perm])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extremes(dtype, grad_wrt_losses, step):
    m = FAMO(3)
    grad, w = grad_wrt_losses(m, [0.0, 1e-8, 1e8], dtype=dtype)
    assert torch.isfinite(grad).all() and torch.isfinite(w).all()
    step(m, torch.tensor([1e8, 0.0, 1e-8], dtype=dtype))
    assert torch.isfinite(m.logits).all()


def test_errors(step):
    m = FAMO(2)
    with pytest.raises(ValueError, match="previous step"):
        m.update([1.0, 2.0])
    with pytest.raises(ValueError, match="'b'"):
        m.combine(torch.tensor([1.0, -2.0]), ["a", "b"])
    step(m, [1.0, 2.0])
    with pytest.raises(ValueError, match="num_tasks=2"):
        m.update([1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        FAMO(2, lr=0.0)
    with pytest.raises(ValueError):
        FAMO(2, min_losses=[0.0])


def test_state_roundtrip(step, roundtrip):
    m = FAMO(2)
    for losses in ([1.0, 3.0], [0.8, 2.9], [0.7, 2.0]):
        step(m, losses)
    fresh = roundtrip(m, FAMO(2))
    assert fresh.adam_steps == m.adam_steps == 2
    torch.testing.assert_close(fresh.prev_losses, m.prev_losses)
    _, w1 = step(m, [0.5, 1.0])
    _, w2 = step(fresh, [0.5, 1.0])
    torch.testing.assert_close(w1, w2)
    torch.testing.assert_close(fresh.logits, m.logits)
    torch.testing.assert_close(fresh.exp_avg_sq, m.exp_avg_sq)
    assert list(m.parameters()) == []  # ξ is FAMO's own state, not the user optimizer's
