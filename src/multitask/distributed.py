"""Data parallelism: N processes produce the update one process would on the concatenated batch.

The contract (DESIGN.md, "Scale: one update, many processes") and how :func:`multitask.backward` meets it
when given ``reduce=Reducer()``:

* loss weightings: the loss vector is all-reduced (``T`` numbers) before the weights are computed; the
  objective is evaluated at the global losses and its gradients (model and method parameters) are
  averaged over the ranks, which is the global batch's gradient for any objective ``f(L)`` (chain rule);
  GradNorm averages its per-task gradients at the last shared layer the same way;
* gradient methods, parameters mode: the per-task gradients are all-reduced (``T`` times the bytes of
  plain DDP), so every rank combines the global Jacobian into the identical direction; the heads'
  gradients are averaged;
* gradient methods, features mode: the ``T x T`` Gramians are summed (``G = Σᵣ Gᵣ / N²``), every rank
  computes the same weights, back-propagates its own rows of the direction and the resulting shared
  gradients are averaged; a method that needs the feature Jacobian itself (not only its Gramian) runs on
  the all-gathered Jacobian (``T x global batch x feature`` numbers) and each rank keeps its rows;
* random methods draw from generators seeded identically on every rank (same seed, same calls), so
  their state stays identical because their inputs are.

Exactness assumes every rank holds the same number of samples and the task losses are means over the
samples (the trainer's ``DistributedSampler``-style slicing guarantees both).

Combining with ``torch.nn.parallel.DistributedDataParallel``: do not let DDP reduce as well. Either do
not wrap the model (broadcast the initial parameters once with :func:`broadcast_module`), or run the
forward and :func:`multitask.backward` inside ``ddp_model.no_sync()``. :func:`multitask.backward` itself
fills ``.grad`` with the already-averaged gradients of every parameter the losses reach.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from multitask._backward import Reduce, StepInfo
from multitask._backward import backward as _local_backward
from multitask.metrics import MultiTaskMetrics

__all__ = [
    "Reducer",
    "all_finite",
    "backward",
    "broadcast_module",
    "init_from_env",
    "is_distributed",
    "merge_metrics",
    "rank",
    "shard",
    "shutdown",
    "world_size",
]

#: bucket size (bytes) of one all-reduce call, like DDP's default 25 MiB
BUCKET_BYTES = 25 * 2**20


def is_distributed() -> bool:
    """Whether a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


class Reducer:
    """The collectives :func:`multitask.backward` needs, on a ``torch.distributed`` process group.

    Tensors are flattened into buckets of at most :data:`BUCKET_BYTES` per dtype, one ``all_reduce`` per
    bucket. ``bytes`` counts the payload handed to the collectives (the per-rank message size, not the
    ring traffic), ``calls`` the collective calls, for benchmarks.

    Args:
        group: the process group (default: the default group, which must be initialised).
    """

    def __init__(self, group: Any = None) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError(
                "Reducer needs an initialised process group (torch.distributed.init_process_group)"
            )
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.bytes = 0
        self.calls = 0

    def _all_reduce(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        out: list[Tensor | None] = [None] * len(tensors)
        by_dtype: dict[tuple[torch.dtype, torch.device], list[int]] = {}
        for i, t in enumerate(tensors):
            by_dtype.setdefault((t.dtype, t.device), []).append(i)
        for idx in by_dtype.values():
            bucket: list[int] = []
            size = 0
            for i in [*idx, -1]:
                nbytes = tensors[i].numel() * tensors[i].element_size() if i >= 0 else 0
                if bucket and (i < 0 or size + nbytes > BUCKET_BYTES):
                    flat = torch.cat([tensors[j].detach().reshape(-1) for j in bucket])
                    dist.all_reduce(flat, group=self.group)
                    self.bytes += flat.numel() * flat.element_size()
                    self.calls += 1
                    offset = 0
                    for j in bucket:
                        n = tensors[j].numel()
                        out[j] = flat[offset : offset + n].view_as(tensors[j])
                        offset += n
                    bucket, size = [], 0
                if i >= 0:
                    bucket.append(i)
                    size += nbytes
        return [t for t in out if t is not None]

    def sum(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Elementwise sum over the processes (new tensors)."""
        return self._all_reduce(tensors)

    def mean(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Elementwise mean over the processes (new tensors)."""
        return [t / self.world_size for t in self._all_reduce(tensors)]

    def gather(self, tensors: Sequence[Tensor], dim: int = 0) -> list[Tensor]:
        """Each tensor concatenated along ``dim`` in rank order (the shapes must agree on every rank)."""
        out = []
        for t in tensors:
            parts = [torch.empty_like(t) for _ in range(self.world_size)]
            dist.all_gather(parts, t.detach().contiguous(), group=self.group)
            self.bytes += t.numel() * t.element_size()
            self.calls += 1
            out.append(torch.cat(parts, dim=dim))
        return out


def backward(losses: Any, method: Any, *, reduce: Reduce | None | str = "auto", **kwargs: Any) -> StepInfo:
    """:func:`multitask.backward` that reduces over the default process group when one is initialised.

    ``reduce="auto"``: a :class:`Reducer` on the default group when :func:`is_distributed`, else none.
    Other arguments as for :func:`multitask.backward`.
    """
    if isinstance(reduce, str):
        if reduce != "auto":
            raise ValueError(f"reduce must be a Reducer, None or 'auto', got {reduce!r}")
        reduce = Reducer() if is_distributed() else None
    return _local_backward(losses, method, reduce=reduce, **kwargs)


def broadcast_module(module: nn.Module, src: int = 0, group: Any = None) -> None:
    """Copy ``module``'s parameters and buffers from rank ``src`` to every rank (identical start)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=src, group=group)


def shard(n: int, rank_: int | None = None, world: int | None = None) -> slice:
    """The rank's contiguous share of ``n`` items (``n`` must divide evenly: equal batches are exact)."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    if n % w:
        raise ValueError(f"a batch of {n} samples does not split evenly over {w} processes")
    size = n // w
    return slice(r * size, (r + 1) * size)


def init_from_env() -> Reducer | None:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1 in the environment).

    Backend: NCCL when CUDA is available (each process then uses ``cuda:LOCAL_RANK``), else gloo. Returns
    a :class:`Reducer` on the default group, or ``None`` for a single process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Reducer() if is_distributed() else None
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return Reducer()


def shutdown(*, wait: bool = True) -> None:
    """Leave the default process group: wait for every rank (``wait``), then destroy the group.

    Call it once a distributed run ends. A process that exits with the group alive (its gloo threads still
    running) can abort with SIGABRT ("terminate called without an active exception") while the other
    ranks still talk to it. ``wait=False`` skips the barrier: after an error the other ranks may never
    reach it. Does nothing without an initialised group.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if wait:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def all_finite(values: Tensor, reduce: Reduce | None) -> bool:
    """Whether ``values`` are finite on every rank (one all-reduce: the ranks agree, none hangs)."""
    bad = (~torch.isfinite(values.detach())).sum().to(torch.float64).reshape(1)
    if reduce is not None:
        (bad,) = reduce.sum([bad])
    return bool(bad.item() == 0)


def merge_metrics(metrics: MultiTaskMetrics, group: Any = None) -> MultiTaskMetrics:
    """The rank's streaming metrics merged with every other rank's (in rank order), on every rank."""
    if not is_distributed():
        return metrics
    parts: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(parts, metrics, group=group)
    merged = parts[0]
    for other in parts[1:]:
        merged.merge(other)
    return merged
