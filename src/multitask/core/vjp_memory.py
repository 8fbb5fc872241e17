"""How many cotangent rows one batched vector-Jacobian product may take at once (memory bound).

The ``"batched"`` strategy of :mod:`multitask.core.jacobian` back-propagates ``k`` one-hot cotangents in
one pass (``vmap`` over the backward graph): every gradient flowing through the graph then carries ``k``
rows. Its transient memory is about ``k · (A + r)``, where ``r`` is the bytes of one row of the result
(the inputs' sizes) and ``A`` the bytes of the gradients one backward pass holds on its way down (proxy:
the tensors the graph saved for backward, which have the shapes of the activations those gradients
take). The per-task loop holds ``A`` once plus the ``T`` result rows (``T · r``, one Jacobian), so the
batched pass stays within "the loop's peak plus one Jacobian" when

    (k − 1) · A + k · r ≤ T · r,   i.e.   k · (A + r) ≤ A + T · r .

:func:`chunk_size_for` turns a byte budget into ``k``; :func:`auto_chunk_size` picks the budget: the one
given, else on CUDA the bound above capped by half the free device memory, else none (all rows at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["activation_bytes", "auto_chunk_size", "chunk_size_for", "row_bytes"]

_CACHE: dict[tuple[Any, ...], int | None] = {}
_CACHE_SIZE = 64


def row_bytes(inputs: Sequence[Tensor]) -> int:
    """Bytes of one row of the Jacobian blocks: one gradient of every input."""
    return sum(x.numel() * x.element_size() for x in inputs)


def activation_bytes(outs: Sequence[Tensor], inputs: Sequence[Tensor]) -> int:
    """Proxy for the gradient memory of one backward pass from ``outs`` down to ``inputs``.

    The bytes of the distinct tensors saved for backward by the graph nodes between them (the walk stops
    at the inputs: in features mode it never enters the encoder). Cost: one visit per node.
    """
    stop = {x.grad_fn for x in inputs if x.grad_fn is not None}
    stack = [o.grad_fn for o in outs if o.grad_fn is not None]
    seen: set[Any] = set()
    found: dict[tuple[int, tuple[int, ...]], int] = {}
    while stack:
        node = stack.pop()
        if node in seen or node in stop:
            continue
        seen.add(node)
        for name in dir(node):
            if not name.startswith("_saved_"):
                continue
            try:
                value = getattr(node, name)
            except RuntimeError:  # freed or unavailable saved value
                continue
            for x in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(x, Tensor) and x.numel() > 0:
                    found[(x.data_ptr(), tuple(x.shape))] = x.numel() * x.element_size()
        stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None and nxt not in seen)
    return sum(found.values())


def chunk_size_for(num_tasks: int, per_row: int, budget: float) -> int:
    """The most rows ``k`` (``1 ≤ k ≤ T``) with ``k · per_row ≤ budget``; at least one row always runs."""
    if num_tasks < 1:
        raise ValueError(f"chunk_size_for: num_tasks must be >= 1, got {num_tasks}")
    if per_row <= 0 or budget == float("inf"):
        return num_tasks
    if not budget >= 0:
        raise ValueError(f"chunk_size_for: the memory budget must be a number >= 0, got {budget!r}")
    return max(1, min(num_tasks, int(budget // per_row)))


def auto_chunk_size(
    outs: Sequence[Tensor], inputs: Sequence[Tensor], memory_budget: float | None = None
) -> int | None:
    """Rows per batched VJP for these losses and inputs (``None``: all rows at once).

    ``memory_budget`` (bytes of transient memory for one chunk): ``k = ⌊budget / (A + r)⌋``. ``None``:
    on CUDA the budget is ``A + T·r`` (peak at most the per-task loop's plus one Jacobian, see the module
    docstring), capped by half the free device memory (``torch.cuda.mem_get_info``); elsewhere no bound.
    The answer is cached per device, dtype, ``T``, input shapes and budget (the graph walk runs once).
    """
    t = len(outs)
    device = outs[0].device
    if memory_budget is None and device.type != "cuda":
        return None
    key = (device, outs[0].dtype, t, tuple((tuple(x.shape), x.dtype) for x in inputs), memory_budget)
    if key in _CACHE:
        return _CACHE[key]
    r = row_bytes(inputs)
    a = activation_bytes(outs, inputs)
    if memory_budget is None:
        free, _total = torch.cuda.mem_get_info(device)
        budget = min(float(a + t * r), 0.5 * float(free))
    else:
        budget = float(memory_budget)
    k = chunk_size_for(t, a + r, budget)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = k
    return k
