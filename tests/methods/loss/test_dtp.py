import math

import pytest
import torch

import multitask as mt
from multitask.methods import DTP


def test_registered():
    assert isinstance(mt.create_method("dtp"), DTP)


def test_equal_weights_before_any_kpi(step):
    _, w = step(DTP(), [1.0, 5.0])
    assert w.tolist() == [1.0, 1.0]


def test_two_tasks_hand_values_and_ema(step):
    m = DTP(gamma=1.0, alpha=0.9, task_names=["a", "b"])
    m.update_kpi({"a": 0.5, "b": 0.9})
    total, w = step(m, [2.0, 3.0], ["a", "b"])
    expected = [-0.5 * math.log(0.5), -0.1 * math.log(0.9)]
    assert w.tolist() == pytest.approx(expected)
    assert total.item() == pytest.approx(2 * expected[0] + 3 * expected[1])
    m.update_kpi({"b": 0.5, "a": 1.0})  # κ̄ = 0.9 κ + 0.1 κ̄
    _, w = step(m, [2.0, 3.0], ["a", "b"])
    ka, kb = 0.9 * 1.0 + 0.1 * 0.5, 0.9 * 0.5 + 0.1 * 0.9
    assert w.tolist() == pytest.approx([-(1 - ka) * math.log(ka), -(1 - kb) * math.log(kb)])


def test_three_tasks_gamma_two(step):
    m = DTP(gamma=2.0)
    m.update_kpi([0.25, 0.5, 1.0])
    _, w = step(m, [1.0, 1.0, 1.0])
    assert w.tolist() == pytest.approx([-(0.75**2) * math.log(0.25), -(0.5**2) * math.log(0.5), 0.0])


def test_harder_tasks_get_larger_weights_and_permutation(step):
    kpis = torch.tensor([0.9, 0.2, 0.6])
    perm = torch.tensor([2, 0, 1])
    a, b = DTP(), DTP()
    a.update_kpi(kpis)
    b.update_kpi(kpis[perm])
    _, wa = step(a, [1.0, 1.0, 1.0])
    _, wb = step(b, [1.0, 1.0, 1.0])
    assert wa[1] > wa[2] > wa[0]
    torch.testing.assert_close(wb, wa[perm])


def test_zero_kpi_gives_finite_weight(step):
    m = DTP(eps=1e-6)
    m.update_kpi([0.0, 1.0])
    _, w = step(m, [1.0, 1.0])
    assert w.tolist() == pytest.approx([-math.log(1e-6), 0.0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extreme_losses(dtype, step):
    m = DTP()
    m.update_kpi([0.1, 0.5, 0.99])
    total, w = step(m, torch.tensor([0.0, 1e-8, 1e8], dtype=dtype))
    assert torch.isfinite(total) and w.dtype == dtype


def test_task_names_learned_at_the_first_step(step):
    m = DTP()
    with pytest.raises(ValueError, match="task names"):
        m.update_kpi({"seg": 0.3, "depth": 0.4})
    step(m, [1.0, 1.0], ["seg", "depth"])
    m.update_kpi({"depth": 0.4, "seg": 0.3})
    _, w = step(m, [1.0, 1.0], ["seg", "depth"])
    assert w.tolist() == pytest.approx([-0.7 * math.log(0.3), -0.6 * math.log(0.4)])
    with pytest.raises(ValueError, match="changed"):
        step(m, [1.0, 1.0], ["depth", "seg"])


def test_bad_kpis_name_the_task():
    m = DTP(task_names=["seg", "depth"])
    with pytest.raises(ValueError, match="'depth'"):
        m.update_kpi({"seg": 0.3, "depth": 1.5})
    with pytest.raises(ValueError, match="missing for tasks \\['depth'\\]"):
        m.update_kpi({"seg": 0.3})
    with pytest.raises(ValueError, match="unknown tasks \\['normals'\\]"):
        m.update_kpi({"seg": 0.3, "depth": 0.2, "normals": 0.1})
    with pytest.raises(ValueError, match="expected 2 KPIs"):
        m.update_kpi([0.3])
    with pytest.raises(ValueError):
        DTP(alpha=0.0)
    with pytest.raises(ValueError):
        DTP(gamma=-1.0)


def test_state_roundtrip(step, roundtrip):
    m = DTP(task_names=["a", "b"])
    m.update_kpi({"a": 0.2, "b": 0.7})
    fresh = roundtrip(m, DTP())
    assert fresh.task_names == ["a", "b"] and fresh.kpi_average == m.kpi_average
    m.update_kpi({"a": 0.4, "b": 0.1})
    fresh.update_kpi({"a": 0.4, "b": 0.1})
    assert torch.equal(step(m, [1.0, 2.0], ["a", "b"])[1], step(fresh, [1.0, 2.0], ["a", "b"])[1])


def test_on_epoch_end_takes_each_tasks_main_validation_metric_as_kpi():
    m = DTP(gamma=1.0, alpha=1.0)
    hib = {"a": {"accuracy": True, "loss": False}, "b": {"miou": True}}
    m.on_epoch_end({"a": {"accuracy": 0.25, "loss": 3.0}, "b": {"miou": 0.5}}, hib)
    assert m.kpi_average == [0.25, 0.5]
    w = m.weights(torch.ones(2, dtype=torch.float64))
    expected = torch.tensor([-(0.75) * math.log(0.25), -(0.5) * math.log(0.5)], dtype=torch.float64)
    torch.testing.assert_close(w, expected)


def test_on_epoch_end_leaves_kpis_when_a_main_metric_is_not_a_kpi():
    m = DTP(task_names=["a", "b"])
    m.on_epoch_end(
        {"a": {"accuracy": 0.25}, "b": {"rmse": 0.5}}, {"a": {"accuracy": True}, "b": {"rmse": False}}
    )
    assert m.kpi_average is None
    m.on_epoch_end(
        {"a": {"accuracy": 0.25}, "b": {"acc": 1.7}}, {"a": {"accuracy": True}, "b": {"acc": True}}
    )
    assert m.kpi_average is None
    m.on_epoch_end(None, None)
    assert m.kpi_average is None
