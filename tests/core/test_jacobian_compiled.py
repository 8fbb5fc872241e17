"""The opt-in captured path (``jacobian.compiled``) gives the eager engine's results.

Tested with the ``aot_eager`` backend (dynamo traces the engine's per-step work into a graph and runs it;
seconds on a CPU). ``inductor`` also fuses the kernels; on this CPU it compiles in about 25 s per graph, too
slow for the suite, and gave identical results on the same model (``benchmarks/gpu_check.py --compile``
exercises it on a GPU).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.core import jacobian as jac

BACKEND = "aot_eager"


def _step(method: str, mode: str, tasks: int, compiled: bool, batch: int = 16):
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 10))
    heads = [nn.Linear(10, 1) for _ in range(tasks)]
    x = torch.randn(batch, 6)
    z = enc(x)
    losses = {f"t{i}": (h(z) - 0.1 * i).square().mean() for i, h in enumerate(heads)}
    kwargs = {"shared": enc.parameters(), "features": z if mode == "features" else None}
    if compiled:
        with jac.compiled(BACKEND):
            info = mt.backward(losses, mt.create_method(method), **kwargs)
    else:
        info = mt.backward(losses, mt.create_method(method), **kwargs)
    return [p.grad.clone() for p in enc.parameters()], info


@pytest.mark.parametrize(("method", "mode"), [("upgrad", "parameters"), ("mgda", "features")])
def test_compiled_equals_eager(method, mode):
    torch._dynamo.reset()
    for tasks, batch in ((3, 16), (3, 16), (5, 8)):  # same shapes twice (reused graph), then new shapes
        ref, ref_info = _step(method, mode, tasks, compiled=False, batch=batch)
        got, got_info = _step(method, mode, tasks, compiled=True, batch=batch)
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(got_info.weights, ref_info.weights)
        torch.testing.assert_close(got_info.cosines, ref_info.cosines)


def test_compiled_context_is_scoped_and_still_checks_finiteness():
    assert jac._COMPILE.get() is None
    blocks = [torch.tensor([[1.0, float("nan")], [2.0, 3.0]]), torch.ones(2, 3)]
    with jac.compiled(BACKEND):
        assert jac._COMPILE.get() == BACKEND
        gram, finite = jac.gramian_and_finite(blocks)
        assert finite.tolist() == [False, True]
        torch.testing.assert_close(gram[1, 1], torch.tensor(16.0))
        torch.testing.assert_close(
            jac.combine_blocks(torch.tensor([0.0, 2.0]), blocks[1:])[0], 2 * torch.ones(3)
        )
    assert jac._COMPILE.get() is None
