"""Dynamic weight average: weights from the rate at which each task's loss falls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import check_losses, check_num_tasks


@register_method("dwa")
class DWA(LossWeighting):
    """Dynamic Weight Average (DWA).

    Liu, Johns, Davison. End-to-End Multi-Task Learning with Attention. CVPR 2019.

    With ``L̄ₜ(k)`` the average training loss of task ``t`` over epoch ``k``, the weights of epoch ``k`` are::

        rₜ = L̄ₜ(k−1) / L̄ₜ(k−2),      wₜ = T exp(rₜ / τ) / Σᵢ exp(rᵢ / τ)

    and ``wₜ = 1`` during the first two epochs (no two averages yet). Tasks whose loss falls slowly get
    larger weights; ``Σₜ wₜ = T``. The ratio is scale-free, so multiplying a task's loss by a constant
    does not change the weights.

    Epochs: every call of :meth:`objective` (i.e. every ``multitask.backward`` / :meth:`combine`) adds its
    detached losses to the running epoch average. The epoch is closed either by calling
    :meth:`on_epoch_end` (the training loop's hook) at the end of each training epoch, or automatically
    every ``iters_per_epoch`` calls
    when that argument is given. :meth:`record` adds losses without a training step (rarely needed).
    Only the last two epoch averages are kept.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector when given.
        temperature: ``τ`` (paper default 2; larger is softer, ``τ → ∞`` gives equal weights).
        iters_per_epoch: when given, close an epoch automatically after this many steps.
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    _state_attrs: ClassVar[tuple[str, ...]] = ("epoch_averages", "epoch_sum", "epoch_count", "epochs_done")

    def __init__(
        self, num_tasks: int | None = None, temperature: float = 2.0, iters_per_epoch: int | None = None
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"DWA: temperature must be > 0, got {temperature}")
        if iters_per_epoch is not None and (isinstance(iters_per_epoch, bool) or int(iters_per_epoch) < 1):
            raise ValueError(f"DWA: iters_per_epoch must be a positive int, got {iters_per_epoch}")
        self.num_tasks = None if num_tasks is None else check_num_tasks("DWA", num_tasks)
        self.temperature = float(temperature)
        self.iters_per_epoch = None if iters_per_epoch is None else int(iters_per_epoch)
        self._clear()

    def _clear(self) -> None:
        #: averages of the last (at most two) completed epochs, oldest first
        self.epoch_averages: list[list[float]] = []
        self.epoch_sum: list[float] | None = None
        self.epoch_count = 0
        self.epochs_done = 0

    def reset(self) -> None:
        super().reset()
        self._clear()

    # ---- epochs ------------------------------------------------------------------------------
    def record(self, losses: Tensor) -> None:
        """Add one step's loss values to the current epoch's average."""
        values = [float(v) for v in torch.as_tensor(losses).detach().reshape(-1).tolist()]
        if self.epoch_sum is None:
            self.epoch_sum = [0.0] * len(values)
        if len(values) != len(self.epoch_sum):
            raise ValueError(f"DWA: got {len(values)} losses, earlier steps had {len(self.epoch_sum)}")
        self.epoch_sum = [a + b for a, b in zip(self.epoch_sum, values)]
        self.epoch_count += 1

    def on_epoch_end(
        self,
        val_metrics: Mapping[str, Mapping[str, float]] | None = None,
        higher_is_better: Mapping[str, Mapping[str, bool]] | None = None,
    ) -> None:
        """Close the current epoch: its average loss becomes the newest entry of the history."""
        if self.epoch_sum is None or self.epoch_count == 0:
            raise ValueError("DWA: on_epoch_end() called but no losses were recorded in this epoch")
        average = [s / self.epoch_count for s in self.epoch_sum]
        self.epoch_averages = [*self.epoch_averages, average][-2:]
        self.epoch_sum = None
        self.epoch_count = 0
        self.epochs_done += 1

    # ---- weights -----------------------------------------------------------------------------
    def weights(self, losses: Tensor) -> Tensor:
        t = losses.shape[0]
        if len(self.epoch_averages) < 2:
            return torch.ones(t, dtype=losses.dtype, device=losses.device)
        older, newer = (torch.tensor(a, dtype=torch.float64) for a in self.epoch_averages)
        if older.numel() != t:
            raise ValueError(f"DWA: got {t} losses, the recorded epochs have {older.numel()}")
        ratio = newer / older.clamp_min(torch.finfo(torch.float64).tiny)
        w = t * torch.softmax(ratio / self.temperature, dim=0)
        return w.to(dtype=losses.dtype, device=losses.device)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("DWA", losses, ctx.task_names, self.num_tasks)
        w = self.weights(losses.detach())
        self.record(losses)
        if self.iters_per_epoch is not None and self.epoch_count >= self.iters_per_epoch:
            self.on_epoch_end()
        return (w * losses).sum(), w

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}, iters_per_epoch={self.iters_per_epoch}"
