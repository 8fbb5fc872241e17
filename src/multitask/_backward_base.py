"""Shared pieces of :func:`multitask.backward` (private): the step record, the loss checks, the
combination of a Jacobian by a gradient method, and the collective-operations protocol of data parallelism.

:mod:`multitask._backward` (the steps), :mod:`multitask._backward_dp` (data parallel) and
:mod:`multitask._backward_partial` (partial labels) import from here; this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from multitask.core import jacobian as jac
from multitask.core.gramian import to_host
from multitask.methods.base import GradientMethod

LossesLike = Mapping[str, Tensor] | Sequence[Tensor]
#: the loss scale of the running call (mixed precision; 1 otherwise)
_GRAD_SCALE: ContextVar[float] = ContextVar("multitask_grad_scale", default=1.0)


def _scaled(t: Tensor) -> Tensor:
    scale = _GRAD_SCALE.get()
    return t if scale == 1.0 else t * scale


class GradientOverflowError(ValueError):
    """Mixed precision: the scaled task gradients overflowed; the step must be skipped (the method did not
    run, its state is untouched) and the loss scale lowered, as ``GradScaler`` does."""


@dataclass
class StepInfo:
    """What one call of :func:`backward` did, for logging.

    Attributes:
        task_names: task names in order.
        losses: detached loss values ``[T]``.
        weights: the method's task weights ``[T]`` (``None`` for direction-only methods).
        grad_norms: per-task gradient norms ``[T]`` (w.r.t. the Jacobian's inputs) when computed.
        cosines: ``[T, T]`` cosine similarities of the task gradients when computed.
        mode: ``"loss"``, ``"parameters"`` or ``"features"``.
        absent: tasks left out of this step (no labelled sample); the other fields cover the present
            tasks only.
    """

    task_names: list[str]
    losses: Tensor
    weights: Tensor | None = None
    grad_norms: Tensor | None = None
    cosines: Tensor | None = None
    mode: str = "loss"
    extra: dict[str, float] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        """Flat ``{name: float}`` record (``loss/<task>``, ``weight/<task>``, ``grad_norm/<task>``)."""
        out: dict[str, float] = {}
        for i, name in enumerate(self.task_names):
            out[f"loss/{name}"] = float(self.losses[i])
            if self.weights is not None:
                out[f"weight/{name}"] = float(self.weights[i])
            if self.grad_norms is not None:
                out[f"grad_norm/{name}"] = float(self.grad_norms[i])
        if self.cosines is not None:
            for i, a in enumerate(self.task_names):
                for j in range(i + 1, len(self.task_names)):
                    out[f"cos/{a}/{self.task_names[j]}"] = float(self.cosines[i, j])
        out.update(self.extra)
        return out


def _combine(
    names: list[str],
    vec: Tensor,
    method: GradientMethod,
    blocks: list[Tensor],
    mode: str,
    gramian: Tensor | None = None,
    check_losses: bool = False,
) -> dict:
    """The method's direction and the step's :class:`StepInfo` from the Jacobian ``blocks``.

    ``check_losses``: also check that the losses ``vec`` are finite (the check that ``_stack_losses``
    otherwise makes before the Jacobian), in the same device synchronisation as the Jacobian's check; a
    non-finite loss raises the same ``ValueError`` as there.
    """
    scale = _GRAD_SCALE.get()
    if scale != 1.0:  # mixed precision: the blocks are of S·L, the method sees those of L
        blocks = [b / scale for b in blocks]
        gramian = None if gramian is None else gramian / scale**2
    if gramian is None:
        gram, finite = jac.gramian_and_finite(blocks)
    else:
        gram, finite = gramian, jac.finite_rows(blocks)
    if check_losses:
        finite = finite & torch.isfinite(vec.detach())
    losses = vec.detach()
    method_gram, method_losses = gram, losses
    if method.needs == "gramian":
        # the step's one device→host copy: the flags, the Gramian and the losses (the solver's inputs)
        finite, method_gram, method_losses = to_host(finite, gram, losses)  # type: ignore[assignment]
    if not bool(finite.all()):  # one device sync for all tasks and blocks (and the losses)
        if check_losses:
            _check_finite_losses(names, vec)  # a non-finite loss is reported as such, first
        bad = [names[i] for i in (~finite).nonzero().flatten().tolist()]
        if scale != 1.0:
            raise GradientOverflowError(f"non-finite scaled gradients for tasks {bad} (loss scale {scale:g})")
        raise ValueError(f"non-finite gradients for tasks {bad}")
    direction = method.combine_blocks(blocks, method_losses, gramian=method_gram)
    weights = method.last_weights
    norms = gram.diagonal().clamp_min(0).sqrt()
    denom = torch.outer(norms, norms)
    cos = torch.where(denom > 0, gram / denom.clamp_min(torch.finfo(gram.dtype).tiny), torch.zeros_like(gram))
    info = StepInfo(
        task_names=names,
        losses=losses,
        weights=None if weights is None else weights.detach(),
        grad_norms=norms,
        cosines=cos.clamp(-1.0, 1.0),
        mode=mode,
    )
    return {"direction": direction, "step_info": info}


# ---- helpers ---------------------------------------------------------------------------------
def _stack_losses(losses: LossesLike, check_finite: bool = True) -> tuple[list[str], list[Tensor], Tensor]:
    """Names, the scalar losses (each keeps its own graph) and their stacked vector."""
    if isinstance(losses, Mapping):
        names = [str(k) for k in losses.keys()]
        values = list(losses.values())
    elif isinstance(losses, Tensor):
        if losses.dim() != 1:
            raise ValueError(f"a loss tensor must be a 1-D vector of task losses, got {tuple(losses.shape)}")
        names = [str(i) for i in range(losses.shape[0])]
        values = list(losses.unbind())
    else:
        values = list(losses)
        names = [str(i) for i in range(len(values))]
    if not values:
        raise ValueError("no task losses given: the task set is empty")
    for name, v in zip(names, values):
        if not isinstance(v, Tensor):
            raise TypeError(f"the loss of task {name!r} must be a tensor, got {type(v).__name__}")
        if v.numel() != 1 or v.dim() > 1:
            raise ValueError(f"the loss of task {name!r} must be a scalar, got shape {tuple(v.shape)}")
        if not v.requires_grad:
            raise ValueError(f"the loss of task {name!r} does not require grad (no graph to differentiate)")
    dtype = values[0].dtype
    for v in values[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    scalars = [v.reshape(()).to(dtype) for v in values]
    vec = torch.stack(scalars)
    if check_finite:
        _check_finite_losses(names, vec)
    return names, scalars, vec


def _check_finite_losses(names: list[str], vec: Tensor) -> None:
    finite = torch.isfinite(vec.detach())
    if not bool(finite.all()):  # one device sync for all tasks
        i = int((~finite).nonzero()[0])
        raise ValueError(f"the loss of task {names[i]!r} is not finite: {vec[i].item()}")


def _unique(tensors: list[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    out = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _check_shared_reached(shared: list[Tensor], leaves: dict[int, Tensor], where: str = "") -> None:
    bad = [i for i, p in enumerate(shared) if id(p) not in leaves]
    if bad:
        shapes = [tuple(shared[i].shape) for i in bad]
        suffix = f" {where}" if where else ""
        raise ValueError(f"no task loss depends{suffix} on shared parameters {bad} (shapes {shapes})")


def _accumulate(p: Tensor, g: Tensor) -> None:
    g = g.detach().to(p.dtype)
    if p.grad is None:
        p.grad = g.clone()
    else:
        p.grad.add_(g)


# ---- data parallel (DESIGN.md "Scale: one update, many processes"; issue 13) ------------------------
class Reduce(Protocol):
    """Collective operations over the processes of one data-parallel job (``multitask.distributed.Reducer``).

    Every process calls the same operations in the same order with tensors of the same shapes.
    """

    world_size: int
    rank: int

    def mean(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Elementwise mean over the processes (new tensors, same shapes)."""
        ...

    def sum(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Elementwise sum over the processes."""
        ...

    def gather(self, tensors: Sequence[Tensor], dim: int = 0) -> list[Tensor]:
        """Each tensor concatenated along ``dim`` over the processes, in rank order (equal shapes)."""
        ...
