"""Partial labels in ``multitask.backward``: an absent task (loss ``None``) leaves the step's aggregation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods import create_method


def make_problem(seed: int = 0, tasks: int = 3):
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).double()
    heads = nn.ModuleList([nn.Linear(5, 1) for _ in range(tasks)]).double()
    x = torch.randn(8, 4, dtype=torch.float64)
    ys = [torch.randn(8, 1, dtype=torch.float64) for _ in range(tasks)]

    def losses() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        z = enc(x)
        return {f"t{i}": ((h(z) - y) ** 2).mean() for i, (h, y) in enumerate(zip(heads, ys))}, z

    return enc, heads, losses


def _grads(module: nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize(("name", "mode"), [("ew", "loss"), ("upgrad", "parameters"), ("mgda", "features")])
def test_absent_task_equals_the_step_without_it(name: str, mode: str) -> None:
    """T_eff < T: the update is the method's update on the present tasks; the absent head gets nothing."""
    results = []
    for drop in (True, False):
        enc, heads, losses = make_problem()
        ls, z = losses()
        if drop:
            ls["t1"] = None  # absent: no labelled sample in this step
        else:
            del ls["t1"]  # reference: the two-task problem
        info = mt.backward(
            ls, create_method(name), shared=list(enc.parameters()), features=z if mode == "features" else None
        )
        results.append((_grads(enc), _grads(heads[0]), _grads(heads[2]), _grads(heads[1]), info))
    (enc_a, h0_a, h2_a, h1_a, info_a), (enc_b, h0_b, h2_b, _, info_b) = results
    for a, b in zip(enc_a + h0_a + h2_a, enc_b + h0_b + h2_b):
        torch.testing.assert_close(a, b)
    assert h1_a == [None, None]  # the absent task's head got no gradient
    assert info_a.task_names == ["t0", "t2"] and info_a.absent == ["t1"] and info_b.absent == []
    assert all("t1" not in key for key in info_a.as_dict())


def test_every_task_absent_is_a_clear_error() -> None:
    enc, _, _ = make_problem()
    with pytest.raises(ValueError, match="every task is absent"):
        mt.backward({"a": None, "b": None}, create_method("ew"), shared=list(enc.parameters()))


def test_a_stateful_method_without_absent_support_says_so() -> None:
    enc, _, losses = make_problem()
    ls, _ = losses()
    ls["t2"] = None
    method = create_method("gradnorm", num_tasks=3)
    with pytest.raises(ValueError, match=r"GradNorm.*absent tasks.*\['t2'\]"):
        mt.backward(ls, method, shared=list(enc.parameters()))
    assert method.present is None  # the subset is left even when the step fails


def test_sequence_losses_keep_their_positions_as_names() -> None:
    enc, _, losses = make_problem()
    ls, _ = losses()
    info = mt.backward([ls["t0"], None, ls["t2"]], create_method("ew"), shared=list(enc.parameters()))
    assert info.task_names == ["0", "2"] and info.absent == ["1"]
