"""Gradient accumulation: k micro-batches, one update equal to the one of the whole batch.

The rule (DESIGN.md, "Scale"): the method is applied once, to the quantities of the whole batch.

* Gradient methods, parameters mode (exact): each micro-batch adds its per-task gradients w.r.t. the
  shared parameters (``T`` backward passes) to a running ``T x n`` Jacobian; the heads' gradients of
  ``Σₜ Lₜ`` are accumulated as usual. :meth:`Accumulator.step` averages, combines once and fills ``.grad``.
* Loss weightings (exact): each micro-batch adds the per-task gradients of every parameter the losses
  reach; the step evaluates the objective ``f`` at the averaged loss vector ``L`` (one call of the
  method, its state advances once), takes ``cₜ = ∂f/∂Lₜ`` and the method's own parameter gradients,
  and fills ``.grad`` with ``Σₜ cₜ ∇Lₜ``. This costs ``T`` backward passes per micro-batch instead of one.
  GradNorm differentiates through the shared layer inside its objective and is refused.
* Gradient methods, features mode: refused with a ``ValueError``. The exact rule needs the Gramian of
  all micro-batches before any of them can be back-propagated (a second forward pass, or keeping every
  micro-batch's graph); use parameters mode, or ``accumulate: 1``.

Under data parallelism (``reduce``) the averaged quantities are then averaged over the processes too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from multitask._backward import Reduce, StepInfo, _accumulate, _check_shared_reached, _combine, _stack_losses
from multitask.core import jacobian as jac
from multitask.core.graph import reachable_leaves
from multitask.methods.base import GradientMethod, LossWeighting, Method
from multitask.methods.loss.gradnorm import GradNorm

__all__ = ["Accumulator"]


class Accumulator:
    """Collect ``k`` micro-batches with :meth:`add`, then :meth:`step` fills ``.grad`` once.

    Args:
        method: the balancing method.
        shared: the shared parameters.
        k: number of micro-batches per update (each must hold the same number of samples).
        features: whether the run is in features mode (refused, see the module docstring).
        reduce: a :class:`~multitask._backward.Reduce` under data parallelism, else ``None``.
    """

    def __init__(
        self,
        method: Method,
        shared: Sequence[Tensor],
        k: int,
        features: bool = False,
        reduce: Reduce | None = None,
    ) -> None:
        if k < 1:
            raise ValueError(f"accumulate must be >= 1, got {k}")
        if features and isinstance(method, GradientMethod):
            raise ValueError(
                f"{type(method).__name__} in features mode cannot accumulate micro-batches exactly without a "
                "second forward pass; use parameters mode or train.accumulate: 1"
            )
        if isinstance(method, GradNorm):
            raise ValueError(
                "GradNorm differentiates through the shared layer inside its objective, so its update over "
                "several micro-batches is not exact here; use train.accumulate: 1"
            )
        self.method, self.shared, self.k, self.reduce = method, list(shared), k, reduce
        self.reset()

    def reset(self) -> None:
        """Drop the micro-batches collected so far."""
        self.count = 0
        self.names: list[str] | None = None
        self.loss_sum: Tensor | None = None
        self.params: list[Tensor] = []  # the tensors whose per-task gradients are accumulated
        self.blocks: list[Tensor] = []  # [T, *shape] each, summed over micro-batches
        self.others: list[Tensor] = []  # parameters mode: the heads
        self.other_grads: list[Tensor] = []

    def add(self, losses: Mapping[str, Tensor] | Sequence[Tensor]) -> None:
        """One micro-batch: its task losses (with their graphs); the graphs are freed."""
        names, scalars, vec = _stack_losses(losses)
        if self.names is None:
            self.names = names
        elif names != self.names:
            raise ValueError(f"micro-batch tasks {names} differ from the first micro-batch's {self.names}")
        leaves = reachable_leaves(scalars)
        _check_shared_reached(self.shared, leaves)
        if isinstance(self.method, LossWeighting):
            params = list(leaves.values())
        else:
            params = self.shared
            shared_ids = {id(p) for p in self.shared}
            others = [x for i, x in leaves.items() if i not in shared_ids]
        if self.count == 0:
            self.params = params
            if not isinstance(self.method, LossWeighting):
                self.others = others
        elif [id(p) for p in params] != [id(p) for p in self.params]:
            raise ValueError("the micro-batches reach different parameters; they cannot be accumulated")
        blocks = jac.jacobian_blocks(scalars, self.params)
        if self.others:
            grads = torch.autograd.grad(scalars, self.others, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, self.others)]
            self.other_grads = grads if self.count == 0 else [a + g for a, g in zip(self.other_grads, grads)]
        self.blocks = blocks if self.count == 0 else [a + b for a, b in zip(self.blocks, blocks)]
        self.loss_sum = vec.detach() if self.loss_sum is None else self.loss_sum + vec.detach()
        self.count += 1

    def step(self) -> StepInfo:
        """Combine the ``k`` micro-batches once and add the update to ``.grad``."""
        if self.count != self.k or self.names is None or self.loss_sum is None:
            raise ValueError(f"step() after {self.count} micro-batches, expected {self.k}")
        names = self.names
        blocks = [b / self.k for b in self.blocks]
        others = [g / self.k for g in self.other_grads]
        vec = self.loss_sum / self.k
        if self.reduce is not None:
            reduced = self.reduce.mean([vec, *blocks, *others])
            vec, blocks, others = reduced[0], reduced[1 : 1 + len(blocks)], reduced[1 + len(blocks) :]
        try:
            if isinstance(self.method, LossWeighting):
                return self._loss_step(names, vec, blocks)
            info = _combine(names, vec, self.method, blocks, "parameters")  # type: ignore[arg-type]
            for p, d in zip(self.shared, info["direction"]):
                _accumulate(p, d)
            for p, g in zip(self.others, others):
                _accumulate(p, g)
            return info["step_info"]
        finally:
            self.reset()

    def _loss_step(self, names: list[str], vec: Tensor, blocks: list[Tensor]) -> StepInfo:
        assert isinstance(self.method, LossWeighting)
        point = vec.clone().requires_grad_(True)
        own = [p for p in self.method.parameters() if p.requires_grad]
        total = self.method.combine(point, names, shared=self.shared)
        grads = torch.autograd.grad(total, [point, *own], allow_unused=True)
        coeff = torch.zeros_like(vec) if grads[0] is None else grads[0]
        own_ids = {id(p) for p in own}
        for p, block in zip(self.params, blocks):
            if id(p) in own_ids:  # a method parameter reached through the losses: its gradient is below
                continue
            _accumulate(p, jac.combine_blocks(coeff.to(block.dtype), [block])[0])
        for p, g in zip(own, grads[1:]):
            if g is not None:
                _accumulate(p, g)
        weights = self.method.last_weights
        return StepInfo(task_names=names, losses=vec, weights=weights, mode="loss")
