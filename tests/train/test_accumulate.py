"""``train.accumulate: k``: k micro-batches give the update of one batch of k times the size."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tests.distributed._workers import Tiny, data

import multitask as mt
from multitask.methods import create_method
from multitask.train.accumulate import Accumulator

METHODS: list[tuple[str, dict[str, Any]]] = [
    ("mgda", {}),
    ("upgrad", {}),
    ("pcgrad", {"seed": 1}),
    ("cagrad", {}),
    ("nash_mtl", {}),
    ("ew", {}),
    ("uw", {"num_tasks": 3}),
    ("dwa", {"num_tasks": 3, "iters_per_epoch": 1}),
    ("famo", {"num_tasks": 3}),
    ("rlw", {"num_tasks": 3, "seed": 3}),
]


def _losses(model: Tiny, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    _, preds = model(x)
    return {t: ((p - y[:, i]) ** 2).mean() for i, (t, p) in enumerate(preds.items())}


def _train(name: str, kwargs: dict[str, Any], k: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = Tiny().double()
    method = create_method(name, **kwargs).double()
    opt = torch.optim.SGD([*model.parameters(), *method.parameters()], lr=0.1)
    shared = list(model.encoder.parameters())
    acc = Accumulator(method, shared, k)
    for step in range(3):
        x, y = data(step)
        if k == 1:
            mt.backward(_losses(model, x, y), method, shared=shared)
        else:
            for xs, ys in zip(x.chunk(k), y.chunk(k)):
                acc.add(_losses(model, xs, ys))
            acc.step()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {**model.state_dict(), **dict(method.named_parameters())}


@pytest.mark.parametrize(("name", "kwargs"), METHODS, ids=[m for m, _ in METHODS])
def test_four_micro_batches_equal_one_batch_of_four_times_the_size(name: str, kwargs: dict[str, Any]) -> None:
    whole, micro = _train(name, kwargs, 1), _train(name, kwargs, 4)
    torch.manual_seed(0)
    start = Tiny().double().state_dict()
    assert max(float((whole[k] - start[k]).abs().max()) for k in start) > 1e-3  # it trained
    for key in whole:
        assert torch.allclose(whole[key], micro[key], rtol=0, atol=1e-10), (name, key)


def test_per_micro_batch_balancing_would_differ() -> None:
    """Guard: the test above can fail: balancing each micro-batch separately is not the same update."""
    torch.manual_seed(0)
    model = Tiny().double()
    method = create_method("mgda")
    shared = list(model.encoder.parameters())
    x, y = data(0)
    mt.backward(_losses(model, x, y), method, shared=shared)
    whole = [p.grad.clone() for p in shared]
    model.zero_grad()
    for xs, ys in zip(x.chunk(4), y.chunk(4)):
        mt.backward({t: v / 4 for t, v in _losses(model, xs, ys).items()}, method, shared=shared)
    assert max(float((a - p.grad).abs().max()) for a, p in zip(whole, shared)) > 1e-4


def test_features_mode_and_gradnorm_are_refused_with_the_reason() -> None:
    model = Tiny().double()
    shared = list(model.encoder.parameters())
    with pytest.raises(ValueError, match="MGDA in features mode cannot accumulate"):
        Accumulator(create_method("mgda"), shared, 2, features=True)
    with pytest.raises(ValueError, match="GradNorm differentiates through the shared layer"):
        Accumulator(create_method("gradnorm", num_tasks=3), shared, 2)
    acc = Accumulator(create_method("ew"), shared, 2)
    x, y = data(0)
    acc.add(_losses(model, x, y))
    with pytest.raises(ValueError, match="after 1 micro-batches, expected 2"):
        acc.step()
