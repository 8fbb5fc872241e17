"""The per-task Jacobian / Gramian engine.

Given the stacked task losses ``L`` (shape ``[T]``) and a list of input tensors (the shared
parameters, or the shared representation), compute the per-task gradients as *blocks*: one tensor
``[T, *input.shape]`` per input. Two interchangeable strategies:

* ``"batched"``: one vector-Jacobian product with a batch of ``T`` one-hot cotangents
  (``torch.autograd.grad(..., is_grads_batched=True)``, i.e. ``vmap`` over the backward pass),
  ``chunk_size`` rows at a time to bound memory. Pays off on GPUs. When ``chunk_size`` is ``None`` the
  rows per pass come from a memory budget (:mod:`multitask.core.vjp_memory`): the ``memory_budget``
  given, else on CUDA "the per-task loop's peak plus one Jacobian" (capped by the free memory), else all
  rows at once. Chunks are written into preallocated blocks (no second copy of ``J`` at the end).
* ``"loop"``: ``T`` calls of ``torch.autograd.grad`` over one retained graph. On a CPU this is the
  faster one (the batched pass runs the same FLOPs through slower batching rules; see
  ``benchmarks/step_time.py``).

``"auto"`` picks ``"batched"`` on CUDA and ``"loop"`` elsewhere, and falls back to the loop (and
remembers it) when an op has no batching rule. The blocks are never concatenated by the engine: a
Gramian is accumulated block by block (``G = Σ_p J_p J_pᵀ``) and a weighted direction formed block by
block (``d_p = wᵀ J_p``).

Captured path (opt-in): inside ``with compiled():`` the per-step tensor work after the backward passes —
the Gramian with the rows' finiteness flags (:func:`gramian_and_finite`) and the weighted combination
(:func:`combine_blocks`) — runs through ``torch.compile``, which fuses the few small kernels per input
block into a handful (GPUs are launch-bound there). Dynamo compiles once per set of block shapes and
reuses the graph while the shapes stay fixed (a new shape compiles again).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor

from multitask.core.vjp_memory import auto_chunk_size

__all__ = [
    "STRATEGIES",
    "check_jacobian",
    "combine_blocks",
    "compiled",
    "concat_blocks",
    "finite_rows",
    "gramian",
    "gramian_and_finite",
    "gramian_from_blocks",
    "jacobian",
    "jacobian_blocks",
    "resolve_strategy",
    "split_direction",
]

STRATEGIES = ("auto", "loop", "batched")
_batching_failed: set[str] = set()
#: the torch.compile backend of the captured path (``None``: eager)
_COMPILE: ContextVar[str | None] = ContextVar("multitask_engine_compile", default=None)
_COMPILED: dict[tuple[str, str], Callable[..., Any]] = {}


@contextmanager
def compiled(backend: str = "inductor") -> Iterator[None]:
    """Run the engine's per-step tensor work through ``torch.compile(backend=backend)`` inside the block.

    Covers :func:`gramian_and_finite` and :func:`combine_blocks` (hence ``multitask.backward``'s Gramian,
    finiteness check and direction); the backward passes and the methods' host solves stay eager. The
    first step with new block shapes pays the compilation. ``backend``: ``"inductor"`` (fused kernels;
    needs a C compiler on CPU, Triton on CUDA), ``"aot_eager"`` (traced, not fused: a check that the code
    captures), or any other ``torch.compile`` backend. Results equal the eager ones up to rounding (fused
    reductions may sum in another order).
    """
    token = _COMPILE.set(backend)
    try:
        yield
    finally:
        _COMPILE.reset(token)


def _captured(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    backend = _COMPILE.get()
    if backend is None:
        return fn
    key = (name, backend)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(fn, backend=backend, dynamic=False, fullgraph=True)
    return _COMPILED[key]


def resolve_strategy(strategy: str, device: torch.device) -> str:
    """Turn ``"auto"`` into a concrete strategy for ``device``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown Jacobian strategy {strategy!r}; expected one of {STRATEGIES}")
    if strategy != "auto":
        return strategy
    if device.type == "cuda" and device.type not in _batching_failed:
        return "batched"
    return "loop"


def jacobian_blocks(
    losses: Tensor | Sequence[Tensor],
    inputs: Sequence[Tensor],
    *,
    strategy: str = "auto",
    chunk_size: int | None = None,
    memory_budget: float | None = None,
) -> list[Tensor]:
    """Per-task gradients of ``losses`` w.r.t. each of ``inputs``: ``[T, *input.shape]`` each.

    ``losses`` is a sequence of ``T`` scalar losses (preferred: each is differentiated through its own
    graph only) or a 1-D tensor. The graph is retained. Inputs that a task does not depend on get zero
    rows. ``chunk_size``: rows per batched pass; ``None`` derives it from ``memory_budget`` (bytes of
    transient memory per pass; see :func:`~multitask.core.vjp_memory.auto_chunk_size`).
    """
    if isinstance(losses, Tensor):
        if losses.dim() != 1:
            raise ValueError(f"losses must be a 1-D vector, got shape {tuple(losses.shape)}")
        outs = list(losses.unbind())
    else:
        outs = list(losses)
    if not outs or any(o.numel() != 1 for o in outs):
        raise ValueError("losses must be a non-empty sequence of scalar tensors")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size}")
    inputs = list(inputs)
    concrete = resolve_strategy(strategy, outs[0].device)
    if concrete == "batched":
        if chunk_size is None:
            chunk_size = auto_chunk_size(outs, inputs, memory_budget)
        try:
            return _batched(outs, inputs, chunk_size)
        except RuntimeError as err:  # an op without a batching rule
            if strategy != "auto":
                raise
            _batching_failed.add(outs[0].device.type)
            warnings.warn(f"batched Jacobian failed ({err}); falling back to the per-task loop", stacklevel=2)
    return _loop(outs, inputs)


def _loop(outs: list[Tensor], inputs: list[Tensor]) -> list[Tensor]:
    rows = [
        torch.autograd.grad(out, inputs, retain_graph=True, allow_unused=True, materialize_grads=True)
        for out in outs
    ]
    return [torch.stack(per_input) for per_input in zip(*rows)]


def _batched(outs: list[Tensor], inputs: list[Tensor], chunk_size: int | None) -> list[Tensor]:
    t = len(outs)
    eye = torch.eye(t, dtype=outs[0].dtype, device=outs[0].device)
    step = t if chunk_size is None else min(chunk_size, t)
    blocks: list[Tensor] = []
    for start in range(0, t, step):
        cotangents = eye[start : start + step]  # [k, T]: row r selects task start + r
        grads = torch.autograd.grad(
            outs,
            inputs,
            grad_outputs=[cotangents[:, i].reshape(-1, *outs[i].shape) for i in range(t)],
            retain_graph=True,
            is_grads_batched=True,
            allow_unused=True,
            materialize_grads=True,
        )
        if step == t:
            return list(grads)
        if not blocks:  # preallocated: the chunks are copied in as they come (never two copies of J)
            blocks = [g.new_empty((t, *g.shape[1:])) for g in grads]
        for block, g in zip(blocks, grads):
            block[start : start + g.shape[0]].copy_(g)
    return blocks


def gramian_from_blocks(blocks: Sequence[Tensor]) -> Tensor:
    """``G = J Jᵀ`` accumulated block by block (``[T, T]``), in the blocks' dtype."""
    return _captured("gramian", _gramian)(list(blocks))


def finite_rows(blocks: Sequence[Tensor]) -> Tensor:
    """``[T]`` booleans: whether every entry of each task's row (over all blocks) is finite."""
    return _captured("finite", _finite)(list(blocks))


def gramian_and_finite(blocks: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """:func:`gramian_from_blocks` and :func:`finite_rows` together (one fused graph when captured)."""
    return _captured("gramian_and_finite", _gramian_and_finite)(list(blocks))


def _gramian_and_finite(blocks: list[Tensor]) -> tuple[Tensor, Tensor]:
    return _gramian(blocks), _finite(blocks)


def _finite(blocks: list[Tensor]) -> Tensor:
    t = blocks[0].shape[0]
    return torch.stack([torch.isfinite(b.reshape(t, -1)).all(dim=1) for b in blocks]).all(dim=0)


def _gramian(blocks: list[Tensor]) -> Tensor:
    first = blocks[0]
    t = first.shape[0]
    g = torch.zeros((t, t), dtype=first.dtype, device=first.device)
    for block in blocks:
        flat = block.reshape(t, -1)
        g.addmm_(flat, flat.T)
    return g


def combine_blocks(weights: Tensor, blocks: Sequence[Tensor]) -> list[Tensor]:
    """Direction ``wᵀJ`` block by block: one tensor of each input's shape."""
    return _captured("combine", _combine)(weights, list(blocks))


def _combine(weights: Tensor, blocks: list[Tensor]) -> list[Tensor]:
    out = []
    for block in blocks:
        w = weights.to(block.dtype)
        out.append(torch.tensordot(w, block, dims=1))
    return out


def concat_blocks(blocks: Sequence[Tensor]) -> Tensor:
    """The whole Jacobian ``[T, n]`` (for methods that need it)."""
    t = blocks[0].shape[0]
    return torch.cat([b.reshape(t, -1) for b in blocks], dim=1)


def split_direction(direction: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Split a flat direction ``[n]`` back into tensors shaped like ``like``."""
    out = []
    offset = 0
    for x in like:
        n = x.numel()
        out.append(direction[offset : offset + n].view_as(x))
        offset += n
    return out


def jacobian(
    losses: Tensor | Sequence[Tensor],
    inputs: Sequence[Tensor],
    *,
    strategy: str = "auto",
    chunk_size: int | None = None,
    memory_budget: float | None = None,
) -> Tensor:
    """The Jacobian ``[T, n]`` of ``losses`` w.r.t. the concatenated, flattened ``inputs``."""
    blocks = jacobian_blocks(
        losses, inputs, strategy=strategy, chunk_size=chunk_size, memory_budget=memory_budget
    )
    return concat_blocks(blocks)


def gramian(
    losses: Tensor | Sequence[Tensor],
    inputs: Sequence[Tensor],
    *,
    strategy: str = "auto",
    chunk_size: int | None = None,
    memory_budget: float | None = None,
) -> Tensor:
    """The Gramian ``J Jᵀ`` (``[T, T]``) of ``losses`` w.r.t. ``inputs``."""
    blocks = jacobian_blocks(
        losses, inputs, strategy=strategy, chunk_size=chunk_size, memory_budget=memory_budget
    )
    return gramian_from_blocks(blocks)


def check_jacobian(jacobian: Tensor) -> Tensor:
    """Validate a ``[T, n]`` Jacobian: a floating 2-D tensor with at least one row, all finite."""
    if not isinstance(jacobian, Tensor):
        raise TypeError(f"the Jacobian must be a torch.Tensor, got {type(jacobian).__name__}")
    if jacobian.dim() != 2:
        raise ValueError(f"the Jacobian must have shape [T, n], got {tuple(jacobian.shape)}")
    if jacobian.shape[0] < 1 or jacobian.shape[1] < 1:
        raise ValueError(f"the Jacobian needs at least one task and one column, got {tuple(jacobian.shape)}")
    if not jacobian.is_floating_point():
        raise TypeError(f"the Jacobian must be floating point, got {jacobian.dtype}")
    if not torch.isfinite(jacobian).all():
        bad = (~torch.isfinite(jacobian)).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"the Jacobian has non-finite entries in task rows {bad}")
    return jacobian
