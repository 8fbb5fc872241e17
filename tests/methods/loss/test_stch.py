import math
import warnings

import pytest
import torch

import multitask as mt
from multitask.methods import STCH


def test_registered():
    assert isinstance(mt.create_method("stch"), STCH)


def test_two_tasks_log_losses_hand_values(step, grad_wrt_losses):
    m = STCH(warmup_epochs=0)
    total, w = step(m, [1.0, 2.0])
    # f = [0, log 2]: g = 2 · log(1 + 2),  w = 2 · softmax(f) = 2 · [⅓, ⅔]
    assert total.item() == pytest.approx(2 * math.log(3.0))
    assert w.tolist() == pytest.approx([2 / 3, 4 / 3])
    grad, _ = grad_wrt_losses(STCH(warmup_epochs=0), [1.0, 2.0])
    assert grad.tolist() == pytest.approx([2 / 3, 4 / 3 / 2])  # ∂g/∂Lₜ = wₜ / Lₜ


def test_mu_controls_smoothing(step):
    total, w = step(STCH(mu=0.5, warmup_epochs=0), [1.0, 2.0])
    # f/μ = [0, 2 log 2]: g = 2 · ½ · log(1 + 4)
    assert total.item() == pytest.approx(math.log(5.0))
    assert w.tolist() == pytest.approx([0.4, 1.6])
    total, w = step(STCH(mu=1e-3, warmup_epochs=0, log_losses=False), [1.0, 3.0, 2.0])
    assert total.item() / 3 == pytest.approx(3.0, abs=1e-2)  # μ → 0: the worst task
    assert w.tolist() == pytest.approx([0.0, 3.0, 0.0], abs=1e-6)


def test_three_tasks_linear_losses(step):
    total, w = step(STCH(warmup_epochs=0, log_losses=False), [1.0, 2.0, 3.0])
    ex = [math.exp(k) for k in (1.0, 2.0, 3.0)]
    assert total.item() == pytest.approx(3 * math.log(sum(ex)))
    assert w.tolist() == pytest.approx([3 * e / sum(ex) for e in ex])


def test_preference(step):
    total, w = step(STCH(warmup_epochs=0, log_losses=False, preference=[2.0, 1.0]), [1.0, 1.0])
    e2, e1 = math.exp(2.0), math.exp(1.0)
    assert total.item() == pytest.approx(2 * math.log(e2 + e1))
    assert w.tolist() == pytest.approx([2 * 2 * e2 / (e2 + e1), 2 * e1 / (e2 + e1)])


def test_warmup_then_normalised_stch(step):
    m = STCH(warmup_epochs=2, iters_per_epoch=2)
    for losses in ([1.0, 4.0], [1.0, 4.0], [2.0, 8.0], [4.0, 8.0]):
        assert m.warming_up
        total, w = step(m, losses)
        assert total.item() == pytest.approx(sum(math.log(v) for v in losses))
        assert w.tolist() == [1.0, 1.0]
    assert not m.warming_up and m.normalizer == [3.0, 8.0]  # the last warm-up epoch's average
    total, w = step(m, [3.0, 16.0])  # f = [0, log 2]
    assert total.item() == pytest.approx(2 * math.log(3.0))
    assert w.tolist() == pytest.approx([2 / 3, 4 / 3])


def test_explicit_on_epoch_end(step):
    m = STCH(warmup_epochs=1)
    step(m, [2.0, 2.0])
    step(m, [4.0, 6.0])
    m.on_epoch_end()
    assert m.normalizer == [3.0, 4.0]
    with pytest.raises(ValueError, match="no losses"):
        m.on_epoch_end()


def test_running_min_ideal_point(step):
    m = STCH(warmup_epochs=0, log_losses=False, ideal="running_min")
    total, _ = step(m, [2.0, 3.0])  # z* = [2, 3]
    assert total.item() == pytest.approx(2 * math.log(2.0))
    total, w = step(m, [1.0, 4.0])  # z* = [1, 3], f − z* = [0, 1]
    assert total.item() == pytest.approx(2 * math.log(1.0 + math.e))
    assert w.tolist() == pytest.approx([2 / (1 + math.e), 2 * math.e / (1 + math.e)])


def test_permutation(step):
    losses = torch.tensor([0.5, 2.0, 5.0], dtype=torch.float64)
    perm = torch.tensor([1, 2, 0])
    total, w = step(STCH(warmup_epochs=0), losses)
    total_p, wp = step(STCH(warmup_epochs=0), losses[perm])
    torch.testing.assert_close(wp, w[perm])
    torch.testing.assert_close(total_p, total)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("warmup", [0, 1])
def test_finite_at_extremes(dtype, warmup, grad_wrt_losses):
    grad, w = grad_wrt_losses(STCH(warmup_epochs=warmup), [0.0, 1e-8, 1e8], dtype=dtype)
    assert torch.isfinite(grad).all() and torch.isfinite(w).all()
    grad, w = grad_wrt_losses(STCH(warmup_epochs=0, log_losses=False, mu=0.01), [0.0, 1e-8, 1e8], dtype=dtype)
    assert torch.isfinite(grad).all() and w.tolist() == pytest.approx([0.0, 0.0, 3.0])


def test_errors():
    with pytest.raises(ValueError, match="'b'"):
        STCH().combine(torch.tensor([1.0, -1.0]), ["a", "b"])
    assert torch.isfinite(STCH(log_losses=False, warmup_epochs=0).combine(torch.tensor([1.0, -1.0])))
    with pytest.raises(ValueError):
        STCH(mu=0.0)
    with pytest.raises(ValueError):
        STCH(ideal="nadir")
    with pytest.raises(ValueError):
        STCH(preference=[1.0, 0.0])
    with pytest.raises(ValueError, match="preference"):
        STCH(preference=[1.0, 2.0], warmup_epochs=0).combine(torch.tensor([1.0, 2.0, 3.0]))


def test_state_roundtrip(step, roundtrip):
    m = STCH(warmup_epochs=1, iters_per_epoch=2, ideal="running_min")
    for losses in ([1.0, 4.0], [3.0, 2.0], [2.0, 2.0]):
        step(m, losses)
    fresh = roundtrip(m, STCH(warmup_epochs=1, iters_per_epoch=2, ideal="running_min"))
    assert fresh.normalizer == m.normalizer == [2.0, 3.0]
    assert fresh.ideal_point == m.ideal_point and fresh.epoch_sum == m.epoch_sum
    for losses in ([1.0, 1.0], [0.5, 3.0], [2.0, 0.1]):
        t1, w1 = step(m, losses)
        t2, w2 = step(fresh, losses)
        assert torch.equal(w1, w2) and torch.equal(t1, t2)


@pytest.mark.parametrize(
    ("epochs", "expected"), [(1, 0), (2, 1), (4, 1), (40, 1), (41, 2), (100, 3), (200, 5)]
)
def test_auto_warmup_keeps_the_official_share_of_the_run(epochs, expected):
    # official: 5 warm-up epochs (STCH_warmup_epoch = 4, plus the measuring epoch) of NYUv2's 200
    m = STCH()
    assert m.warmup_epochs == 5  # before the budget is known: the official value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never ends a run inside the warm-up
        m.on_train_begin(num_epochs=epochs, steps_per_epoch=10)
    assert m.warmup_epochs == expected == min(max(math.ceil(epochs * 5 / 200), 1), epochs - 1)


def test_budget_inside_the_warmup_warns_once_and_auto_leaves_warmup(step):
    m = STCH(warmup_epochs=5)
    with pytest.warns(UserWarning, match="ends inside the warm-up.*SI"):
        m.on_train_begin(num_epochs=4, steps_per_epoch=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.on_train_begin(num_epochs=4, steps_per_epoch=2)  # once per instance
    # the default bench budget (4 epochs): warm-up 1 epoch, then the smooth Tchebycheff objective
    auto = STCH()
    auto.on_train_begin(num_epochs=4, steps_per_epoch=2)
    for _ in range(2):
        _, w = step(auto, [1.0, 2.0])
        assert w.tolist() == [1.0, 1.0]
    auto.on_epoch_end()
    assert not auto.warming_up
    _, w = step(auto, [2.0, 2.0])  # normalised log-losses (log 2, log 1): weights 2·softmax
    expected = 2 * torch.softmax(torch.log(torch.tensor([2.0, 1.0], dtype=torch.float64)), 0)
    torch.testing.assert_close(w, expected)
    with pytest.raises(ValueError, match="num_epochs"):
        auto.on_train_begin(num_epochs=0, steps_per_epoch=1)
    with pytest.raises(ValueError, match="warmup_epochs"):
        STCH(warmup_epochs="long")
