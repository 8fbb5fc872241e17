"""The data-parallel path of ``multitask.backward`` with a one-process ``Reduce`` (no process group needed).

With one process the global batch is the local one, so the path must reproduce ``reduce=None`` exactly;
methods that declare ``data_parallel_error`` are refused with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from tests.distributed._workers import Tiny, data
from torch import Tensor

import multitask as mt
from multitask.methods import create_method


class OneProcess:
    """A ``Reduce`` over a single process (counts its calls)."""

    world_size, rank = 1, 0

    def __init__(self) -> None:
        self.calls = 0

    def mean(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        self.calls += 1
        return [t.detach().clone() for t in tensors]

    sum = mean

    def gather(self, tensors: Sequence[Tensor], dim: int = 0) -> list[Tensor]:
        self.calls += 1
        return [t.detach().clone() for t in tensors]


def _grads(name: str, features: bool, reduce: OneProcess | None) -> list[Tensor]:
    torch.manual_seed(0)
    model = Tiny().double()
    method = create_method(name, **({"num_tasks": 3} if name in ("uw", "gradnorm") else {})).double()
    x, y = data(0)
    z, preds = model(x)
    losses = {t: ((p - y[:, i]) ** 2).mean() for i, (t, p) in enumerate(preds.items())}
    mt.backward(
        losses,
        method,
        shared=list(model.encoder.parameters()),
        features=z if features else None,
        reduce=reduce,
    )
    return [p.grad for p in [*model.parameters(), *method.parameters()] if p.grad is not None]


CASES = [("uw", False), ("gradnorm", False), ("upgrad", False), ("upgrad", True), ("graddrop", True)]


@pytest.mark.parametrize(("name", "features"), CASES)
def test_one_process_reduce_reproduces_the_local_update(name: str, features: bool) -> None:
    reducer = OneProcess()
    local, reduced = _grads(name, features, None), _grads(name, features, reducer)
    assert reducer.calls > 0 and len(local) == len(reduced)
    for a, b in zip(local, reduced):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_method_that_cannot_be_exact_says_why() -> None:
    with pytest.raises(ValueError, match="OrthoReg is not exact under data parallelism: its penalty"):
        _grads("ortho_reg", False, OneProcess())


class OtherRankLacksB(OneProcess):
    """A ``Reduce`` whose (simulated) other process has no labelled sample of task ``b``."""

    world_size = 2

    def sum(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        self.calls += 1
        return [t.detach().clone() + torch.tensor([0.0, 1.0], dtype=t.dtype) for t in tensors]


@pytest.mark.parametrize("reduce", [OneProcess(), OtherRankLacksB()])
def test_partial_labels_under_data_parallelism_are_refused_on_every_process(reduce: OneProcess) -> None:
    w = torch.nn.Parameter(torch.ones(3))
    local = {"a": (w * 2).sum(), "b": None} if type(reduce) is OneProcess else {"a": w.sum(), "b": w.sum()}
    with pytest.raises(ValueError, match=r"tasks \['b'\] have no labelled sample on some process"):
        mt.backward(local, create_method("mgda"), shared=[w], reduce=reduce)
    assert w.grad is None  # refused before anything was back-propagated
