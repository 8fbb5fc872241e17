"""Shared checks of the loss weightings: a missing ``num_tasks`` says what to pass, and learnable method
parameters left out of the optimizer are reported once."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods.loss._checks import FrozenParameterWatch

LEARNABLE = ["uw", "imtl_l", "gradnorm"]


@pytest.mark.parametrize("name", [*LEARNABLE, "famo"])
def test_missing_num_tasks_says_what_to_pass(name: str) -> None:
    with pytest.raises(
        TypeError, match=rf"needs num_tasks=T.*create_method\('{name}', num_tasks=T\)"
    ) as info:
        mt.create_method(name)
    if name == "famo":  # its logits are its own buffers
        assert "optimizer" not in str(info.value)
    else:
        assert "method.parameters() must go to the optimizer" in str(info.value)


def _train(
    method: mt.methods.Method, with_method_params: bool, steps: int = 5
) -> list[warnings.WarningMessage]:
    torch.manual_seed(0)
    enc, heads = nn.Linear(3, 4), nn.ModuleList([nn.Linear(4, 1) for _ in range(2)])
    params = [*enc.parameters(), *heads.parameters()]
    if with_method_params:
        params += list(method.parameters())
    opt = torch.optim.SGD(params, lr=0.05)
    x, ys = torch.randn(16, 3), [torch.randn(16, 1), 3 * torch.randn(16, 1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(steps):
            z = enc(x)
            losses = {f"t{i}": ((h(z) - y) ** 2).mean() for i, (h, y) in enumerate(zip(heads, ys))}
            mt.backward(losses, method, shared=enc.parameters())
            opt.step()
            opt.zero_grad()
    return [w for w in caught if "have not changed" in str(w.message)]


@pytest.mark.parametrize("name", LEARNABLE)
def test_parameters_left_out_of_the_optimizer_warn_once(name: str) -> None:
    frozen = _train(mt.create_method(name, num_tasks=2), with_method_params=False, steps=8)
    assert len(frozen) == 1
    assert "method.parameters() to the optimizer" in str(frozen[0].message)
    assert _train(mt.create_method(name, num_tasks=2), with_method_params=True) == []


def test_watch_compares_once_after_the_given_steps() -> None:
    p = torch.zeros(2)
    watch = FrozenParameterWatch(steps=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        watch.check("M", [p], "scales")  # snapshot
        watch.check("M", [p], "scales")
        assert not caught
        p += 1.0
        watch.check("M", [p], "scales")  # compares: moved, no warning
        p -= 1.0
        watch.check("M", [p], "scales")  # done: never compares again
    assert not caught and watch.done
