"""Dynamic weight average: weights from the rate at which each task's loss falls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, register_method
from multitask.methods.loss._checks import EpochAveragedWeighting, check_losses, check_num_tasks


@register_method("dwa")
class DWA(EpochAveragedWeighting):
    r"""Dynamic Weight Average (DWA).

    Liu, Johns, Davison. End-to-End Multi-Task Learning with Attention. CVPR 2019.

    With $\bar L_t(k)$ the average training loss of task $t$ over epoch $k$, the weights of epoch $k$ are

    $$
    r_t = \frac{\bar L_t(k-1)}{\bar L_t(k-2)}, \qquad
    w_t = \frac{T \exp(r_t / \tau)}{\sum_i \exp(r_i / \tau)}, \qquad
    \mathcal{L} = \sum_t w_t L_t,
    $$

    and $w_t = 1$ during the first two epochs (no two averages yet). Tasks whose loss falls slowly get
    larger weights; $\sum_t w_t = T$. The ratio is scale-free, so multiplying a task's loss by a constant
    does not change the weights.

    Epochs: every call of :meth:`objective` (i.e. every ``multitask.backward`` / :meth:`combine`) adds its
    detached losses to the running epoch average. The epoch is closed either by calling
    :meth:`on_epoch_end` (the training loop's hook) at the end of each training epoch, or automatically
    every ``iters_per_epoch`` calls when that argument is given. :meth:`record` adds losses without a
    training step (rarely needed). Only the last two epoch averages are kept.

    Partial labels (a task absent from a step, see ``multitask.backward``): a task's epoch average is
    over the steps where it was present; a task absent for a whole epoch carries its previous average
    (none yet: the step uses equal weights). The weights of a step cover its present tasks,
    $w_t = T_{\text{eff}} \exp(r_t/\tau) / \sum_{i \text{ present}} \exp(r_i/\tau)$.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector when given.
        temperature: ``τ`` (paper default 2; larger is softer, ``τ → ∞`` gives equal weights).
        iters_per_epoch: when given, close an epoch automatically after this many steps.
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    _label = "DWA"
    _state_attrs: ClassVar[tuple[str, ...]] = (
        "epoch_averages",
        "epoch_sum",
        "epoch_count",
        "epochs_done",
        "task_counts",
    )
    supports_absent = True
    _optional_state = ("task_counts",)

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
        #: averages of the last (at most two) completed epochs, oldest first (``None``: never present)
        self.epoch_averages: list[list[float | None]] = []
        self.epoch_sum: list[float] | None = None
        self.epoch_count = 0
        #: steps of the current epoch in which each task was present (partial labels)
        self.task_counts: list[int] | None = None
        self.epochs_done = 0

    def reset(self) -> None:
        super().reset()
        self._clear()

    # ---- epochs ------------------------------------------------------------------------------
    def on_epoch_end(
        self,
        val_metrics: Mapping[str, Mapping[str, float]] | None = None,
        higher_is_better: Mapping[str, Mapping[str, bool]] | None = None,
    ) -> None:
        """Close the current epoch: its average loss becomes the newest entry of the history."""
        sums, counts = self._epoch_sums()
        last = self.epoch_averages[-1] if self.epoch_averages else [None] * len(sums)
        average = [s / c if c > 0 else prev for s, c, prev in zip(sums, counts, last)]
        self.epoch_averages = [*self.epoch_averages, average][-2:]
        self._clear_epoch()
        self.epochs_done += 1

    # ---- weights -----------------------------------------------------------------------------
    def weights(self, losses: Tensor) -> Tensor:
        return self._weights(losses, None)

    def _weights(self, losses: Tensor, present: Tensor | None) -> Tensor:
        t = losses.shape[0]
        if len(self.epoch_averages) < 2:
            return torch.ones(t, dtype=losses.dtype, device=losses.device)
        older, newer = self.epoch_averages
        if present is None and len(older) != t:
            raise ValueError(f"DWA: got {t} losses, the recorded epochs have {len(older)}")
        index = list(range(t)) if present is None else [int(i) for i in present]
        pairs = [(older[i], newer[i]) for i in index]
        if any(a is None or b is None for a, b in pairs):  # a present task never seen in two epochs
            return torch.ones(t, dtype=losses.dtype, device=losses.device)
        old_t, new_t = (torch.tensor(v, dtype=torch.float64) for v in zip(*pairs))
        ratio = new_t / old_t.clamp_min(torch.finfo(torch.float64).tiny)
        w = t * torch.softmax(ratio / self.temperature, dim=0)
        return w.to(dtype=losses.dtype, device=losses.device)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("DWA", losses, ctx.task_names, ctx.expected(self.num_tasks))
        w = self._weights(losses.detach(), ctx.present)
        self.record(losses, ctx.present, ctx.num_tasks)
        if self.iters_per_epoch is not None and self.epoch_count >= self.iters_per_epoch:
            self.on_epoch_end()
        return (w * losses).sum(), w

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}, iters_per_epoch={self.iters_per_epoch}"
