import math

import pytest
import torch

import multitask as mt
from multitask.methods import DWA


def _run(m, steps, step):
    out = []
    for losses in steps:
        out.append(step(m, losses))
    return out


def test_registered():
    assert isinstance(mt.create_method("dwa"), DWA)


def test_two_tasks_hand_values(step):
    m = DWA(temperature=2.0, iters_per_epoch=2)
    first = _run(m, [[1.0, 2.0], [3.0, 2.0], [1.0, 1.0], [1.0, 3.0]], step)
    for _, w in first:  # the first two epochs have equal weights
        assert w.tolist() == [1.0, 1.0]
    # epoch averages: [2, 2] then [1, 2]  ->  r = [0.5, 1]
    total, w = step(m, [4.0, 1.0])
    e1, e2 = math.exp(0.5 / 2), math.exp(1.0 / 2)
    expected = [2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)]
    assert w.tolist() == pytest.approx(expected)
    assert total.item() == pytest.approx(4 * expected[0] + expected[1])
    assert sum(w.tolist()) == pytest.approx(2.0)


def test_three_tasks_with_explicit_on_epoch_end(step):
    m = DWA(num_tasks=3)
    step(m, [1.0, 1.0, 1.0])
    m.on_epoch_end()
    step(m, [1.0, 0.5, 0.25])
    m.on_epoch_end()
    _, w = step(m, [9.0, 9.0, 9.0])
    ex = [math.exp(r / 2) for r in (1.0, 0.5, 0.25)]
    assert w.tolist() == pytest.approx([3 * e / sum(ex) for e in ex])
    assert w[0] > w[1] > w[2]  # the task whose loss fell least gets the largest weight


def test_only_last_two_epochs_matter(step):
    m = DWA(iters_per_epoch=1)
    for losses in ([100.0, 1.0], [1.0, 1.0], [2.0, 1.0]):
        step(m, losses)
    _, w = step(m, [1.0, 1.0])
    e1, e2 = math.exp(2.0 / 2), math.exp(1.0 / 2)
    assert w.tolist() == pytest.approx([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)])


def test_invariant_to_loss_scales_and_permutation(step):
    history = [[1.0, 4.0, 2.0], [0.5, 3.0, 2.5]]
    scales = torch.tensor([1e-6, 1.0, 1e6], dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    a, b, c = DWA(iters_per_epoch=1), DWA(iters_per_epoch=1), DWA(iters_per_epoch=1)
    for losses in history:
        t = torch.tensor(losses, dtype=torch.float64)
        step(a, t)
        step(b, t * scales)
        step(c, t[perm])
    _, wa = step(a, torch.ones(3, dtype=torch.float64))
    _, wb = step(b, torch.ones(3, dtype=torch.float64))
    _, wc = step(c, torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(wb, wa)
    torch.testing.assert_close(wc, wa[perm])


def test_large_temperature_gives_equal_weights(step):
    m = DWA(temperature=1e9, iters_per_epoch=1)
    _run(m, [[1.0, 1.0], [0.1, 1.0]], step)
    _, w = step(m, [1.0, 1.0])
    assert w.tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extremes(dtype, step):
    m = DWA(iters_per_epoch=1)
    for losses in ([0.0, 1e-8, 1e8], [1e-8, 0.0, 1e8], [1e8, 1e-8, 0.0]):
        total, w = step(m, torch.tensor(losses, dtype=dtype))
        assert torch.isfinite(total) and torch.isfinite(w).all()
        assert w.dtype == dtype


def test_errors(step):
    with pytest.raises(ValueError, match="no losses"):
        DWA().on_epoch_end()
    with pytest.raises(ValueError):
        DWA(temperature=0.0)
    with pytest.raises(ValueError):
        DWA(iters_per_epoch=0)
    with pytest.raises(ValueError, match="'b'"):
        DWA().combine(torch.tensor([1.0, float("nan")]), ["a", "b"])
    m = DWA()
    step(m, [1.0, 2.0])
    with pytest.raises(ValueError, match="earlier steps had 2"):
        step(m, [1.0, 2.0, 3.0])


def test_state_roundtrip_mid_epoch(step, roundtrip):
    m = DWA(iters_per_epoch=2)
    _run(m, [[1.0, 2.0], [3.0, 2.0], [1.0, 1.0], [2.0, 3.0], [5.0, 1.0]], step)  # ends mid-epoch
    fresh = roundtrip(m, DWA(iters_per_epoch=2))
    assert fresh.epoch_averages == m.epoch_averages and fresh.epoch_sum == m.epoch_sum
    for losses in ([1.0, 7.0], [2.0, 2.0], [3.0, 1.0]):
        _, w1 = step(m, losses)
        _, w2 = step(fresh, losses)
        assert torch.equal(w1, w2)
    assert m.epochs_done == fresh.epochs_done == 4


def test_reset_forgets_history(step):
    m = DWA(iters_per_epoch=1)
    _run(m, [[1.0, 2.0], [0.5, 2.0]], step)
    m.reset()
    _, w = step(m, [1.0, 1.0])
    assert w.tolist() == [1.0, 1.0] and m.epochs_done == 1
