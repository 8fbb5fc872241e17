"""Partial labels: stateful methods keep an absent task's state and resume it (contract in DESIGN.md).

Three tasks; steps 0-3 all present, steps 4-8 task ``c`` absent (loss ``None``), steps 9-12 all present.
Each method's per-task state of ``c`` must stay exactly as it was while ``c`` is absent, the step must
use only the present tasks, and after ``c`` returns its state moves again, with nothing non-finite.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods import create_method
from multitask.methods.base import GradientMethod


def _state_of_c(name: str, m) -> list[torch.Tensor]:
    """The parts of method ``m``'s state that belong to task ``c`` (index 2)."""
    if name == "dwa":
        return [torch.tensor(m.epoch_averages[-1][2])]  # the newest average, carried while c is absent
    if name == "stch":
        return [torch.tensor(m.normalizer[2:] if m.normalizer else []), torch.tensor(m.ideal_point[2:])]
    if name == "famo":
        return [m.logits[2], m.exp_avg[2], m.exp_avg_sq[2], m.task_steps[2]]
    if name == "uw":
        return [m.log_vars.detach()[2]]
    if name == "imtl_l":
        return [m.log_scales.detach()[2]]
    if name == "gradvac":
        return [m.targets[2], m.targets[:, 2]]
    if name == "moco":
        return [m.tracked[2], m.lambd[2]]
    if name == "db_mtl":
        return [m.grad_buffer[2]]
    if name == "excess_mtl":
        return [m.grad_sq_sum[2], m.initial_excess[2], m.loss_weights[2]]
    raise AssertionError(name)


KWARGS = {
    "dwa": {"iters_per_epoch": 2},
    "stch": {"iters_per_epoch": 2, "warmup_epochs": 1, "ideal": "running_min"},
    "famo": {"num_tasks": 3},
    "uw": {"num_tasks": 3},
    "imtl_l": {"num_tasks": 3},
    "gradvac": {"beta": 0.5, "seed": 0},
    "moco": {},
    "db_mtl": {},
    "excess_mtl": {},
}


@pytest.mark.parametrize("name", sorted(KWARGS))
def test_state_of_an_absent_task_waits_and_resumes(name: str) -> None:
    torch.manual_seed(0)
    enc = nn.Linear(4, 5).double()
    heads = nn.ModuleList([nn.Linear(5, 1) for _ in range(3)]).double()
    method = create_method(name, **KWARGS[name]).double()
    params = [*enc.parameters(), *heads.parameters(), *method.parameters()]
    opt = torch.optim.SGD(params, lr=0.05)
    held: list[torch.Tensor] | None = None
    for step in range(13):
        x = torch.randn(16, 4, dtype=torch.float64)
        z = enc(x)
        losses = {
            t: ((h(z) - x[:, i : i + 1]) ** 2).mean() + 0.1 for i, (t, h) in enumerate(zip("abc", heads))
        }
        absent = 4 <= step <= 8
        if absent:
            losses["c"] = None
        info = mt.backward(losses, method, shared=list(enc.parameters()))
        opt.step()
        opt.zero_grad()
        if step >= 3:
            assert info.task_names == (["a", "b"] if absent else ["a", "b", "c"])
            if info.weights is not None:
                assert info.weights.shape == (len(info.task_names),) and torch.isfinite(info.weights).all()
        if step < 3:
            continue
        state = [s.detach().clone() for s in _state_of_c(name, method)]
        if step == 3:
            held = state
        elif absent:
            assert held is not None
            for a, b in zip(held, state):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        elif step == 12:
            assert any(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(held, state)), (
                "c never resumed"
            )
    assert method.present is None
    for value in method.state_dict().values():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            assert torch.isfinite(value).all()


def test_famo_on_the_present_tasks_is_famo_on_those_tasks() -> None:
    """While ``c`` is absent the logits of a and b follow exactly a 2-task FAMO started from their state."""
    torch.manual_seed(1)
    three, two = create_method("famo", num_tasks=3).double(), create_method("famo", num_tasks=2).double()
    for _ in range(3):  # all present: build some state
        three.combine(torch.rand(3, dtype=torch.float64) + 0.5, list("abc"))
    three.prev_losses = None
    for key in ("logits", "exp_avg", "exp_avg_sq", "task_steps"):
        getattr(two, key).copy_(getattr(three, key)[:2])
    two.adam_steps = three.adam_steps
    for _ in range(4):
        vec = torch.rand(2, dtype=torch.float64, requires_grad=True) + 0.5
        three.begin_subset([0, 1], 3, ["c"])
        try:
            a = three.combine(vec, ["a", "b"])
        finally:
            three.end_subset()
        b = two.combine(vec, ["a", "b"])
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(three.last_weights, two.last_weights)
    torch.testing.assert_close(three.logits[:2], two.logits)


def test_nash_mtl_solves_the_present_tasks_game() -> None:
    g = torch.randn(3, 6, dtype=torch.float64)
    gram = g @ g.T
    m = create_method("nash_mtl")
    assert isinstance(m, GradientMethod)
    m.weights(gram)
    m.begin_subset([0, 2], 3, ["b"])
    try:
        w = m.weights(gram[[0, 2]][:, [0, 2]])
    finally:
        m.end_subset()
    fresh = create_method("nash_mtl").weights(gram[[0, 2]][:, [0, 2]])
    torch.testing.assert_close(w, fresh, rtol=1e-6, atol=1e-8)
    assert m.weights(gram).shape == (3,)  # back to all three tasks


@pytest.mark.parametrize("name", ["dwa", "stch", "famo", "nash_mtl"])
def test_a_state_saved_before_partial_labels_still_loads(name: str) -> None:
    method = create_method(name, **({"num_tasks": 3} if name == "famo" else {}))
    if isinstance(method, GradientMethod):
        method.weights(torch.eye(3, dtype=torch.float64))
    else:
        for _ in range(2):
            method.combine(torch.rand(3) + 0.5, list("abc"))
    state = method.state_dict()
    extra = dict(state["_extra_state"])
    for key in ("task_counts", "prev_present"):
        extra.pop(key, None)
    state["_extra_state"] = extra
    state.pop("task_steps", None)
    fresh = create_method(name, **({"num_tasks": 3} if name == "famo" else {}))
    fresh.load_state_dict(state)
    assert fresh.step_count == method.step_count
    if name == "famo":
        assert torch.equal(fresh.task_steps, torch.full((3,), float(method.adam_steps)))
