"""Dynamic task prioritisation: focal weights from per-task key performance indicators."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import check_losses, check_num_tasks


@register_method("dtp")
class DTP(LossWeighting):
    r"""Dynamic Task Prioritization (DTP), task-level focal weighting.

    Guo, Haque, Huang, Yeung, Fei-Fei. Dynamic Task Prioritization for Multitask Learning. ECCV 2018.

    Each task reports a key performance indicator $\kappa_t \in [0, 1]$ (accuracy, IoU, ...; higher is
    better), smoothed by an exponential moving average, and the task weight is the focal loss of that KPI:

    $$
    \bar\kappa_t \leftarrow \alpha \kappa_t + (1 - \alpha) \bar\kappa_t,
    $$

    $$
    w_t = -(1 - \bar\kappa_t)^\gamma \log \max(\bar\kappa_t, \varepsilon), \qquad
    \mathcal{L} = \sum_t w_t L_t
    $$

    (the first report sets $\bar\kappa_t = \kappa_t$). Hard tasks (low KPI) get large weights; a task at
    $\bar\kappa_t = 1$ gets weight 0. Until the first KPI report all weights are 1.

    Report KPIs with :meth:`update_kpi`, e.g. once per epoch from validation metrics:
    ``method.update_kpi({"seg": 0.41, "depth": 0.73})`` (keys are the task names seen by
    ``multitask.backward`` or given as ``task_names``) or a sequence in task order.

    Hyper-parameters: the paper's focusing parameter ``γ`` (``γ = 0`` gives ``wₜ = −log κ̄ₜ``) and EMA
    factor ``α`` are tuned per experiment there and no reference code was released; the defaults here
    (``γ = 1``, ``α = 0.9``) are this library's choice, not values taken from the paper.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector and the KPIs when given.
        gamma: focusing parameter ``γ ≥ 0`` (default 1).
        alpha: weight of the newest KPI in the moving average, in (0, 1] (default 0.9).
        eps: floor ``ε`` of ``κ̄ₜ`` inside the log, so a KPI of 0 gives a finite weight ``−log ε``
            (default 1e-6, weight ≈ 13.8).
        task_names: optional task names, to accept ``update_kpi`` mappings before the first step.
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    _state_attrs: ClassVar[tuple[str, ...]] = ("kpi_average", "task_names")

    def __init__(
        self,
        num_tasks: int | None = None,
        gamma: float = 1.0,
        alpha: float = 0.9,
        eps: float = 1e-6,
        task_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if not gamma >= 0:
            raise ValueError(f"DTP: gamma must be >= 0, got {gamma}")
        if not 0 < alpha <= 1:
            raise ValueError(f"DTP: alpha must be in (0, 1], got {alpha}")
        if not 0 < eps < 1:
            raise ValueError(f"DTP: eps must be in (0, 1), got {eps}")
        self.num_tasks = None if num_tasks is None else check_num_tasks("DTP", num_tasks)
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.task_names: list[str] | None = None
        if task_names is not None:
            self.task_names = self._check_names(list(task_names))
        self.kpi_average: list[float] | None = None

    def reset(self) -> None:
        super().reset()
        self.kpi_average = None

    def _check_names(self, names: list[str]) -> list[str]:
        if self.num_tasks is not None and len(names) != self.num_tasks:
            raise ValueError(f"DTP: built for num_tasks={self.num_tasks}, got task names {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"DTP: task names must be unique, got {names}")
        return [str(n) for n in names]

    # ---- KPIs --------------------------------------------------------------------------------
    def update_kpi(self, kpis: Mapping[str, float] | Sequence[float] | Tensor) -> None:
        """Report every task's current KPI ``κₜ ∈ [0, 1]``: a ``{task: value}`` mapping or a sequence."""
        if isinstance(kpis, Mapping):
            if self.task_names is None:
                raise ValueError(
                    "DTP: KPIs given by task name before the task names are known; pass task_names=... "
                    "at construction, run one step first, or give the KPIs as a sequence in task order"
                )
            missing = [n for n in self.task_names if n not in kpis]
            unknown = [k for k in kpis if k not in self.task_names]
            if missing or unknown:
                raise ValueError(f"DTP: KPIs missing for tasks {missing}, unknown tasks {unknown}")
            values = [kpis[n] for n in self.task_names]
            names = list(self.task_names)
        else:
            values = kpis.detach().reshape(-1).tolist() if isinstance(kpis, Tensor) else list(kpis)
            names = self.task_names or [str(i) for i in range(len(values))]
            expected = len(self.task_names) if self.task_names is not None else self.num_tasks
            if expected is not None and len(values) != expected:
                raise ValueError(f"DTP: expected {expected} KPIs (tasks {names}), got {len(values)}")
        kpi = []
        for name, value in zip(names, values):
            v = float(value)
            if not math.isfinite(v) or not 0.0 <= v <= 1.0:
                raise ValueError(f"DTP: the KPI of task {name!r} must be in [0, 1], got {value}")
            kpi.append(v)
        if self.kpi_average is None:
            self.kpi_average = kpi
        else:
            if len(kpi) != len(self.kpi_average):
                raise ValueError(f"DTP: got {len(kpi)} KPIs, earlier reports had {len(self.kpi_average)}")
            self.kpi_average = [
                self.alpha * k + (1.0 - self.alpha) * a for k, a in zip(kpi, self.kpi_average)
            ]

    def on_epoch_end(
        self,
        val_metrics: Mapping[str, Mapping[str, float]] | None = None,
        higher_is_better: Mapping[str, Mapping[str, bool]] | None = None,
    ) -> None:
        """Training-loop hook: the KPI of each task is its main validation metric.

        The main metric is the first one listed for the task in ``higher_is_better``; it is used as the KPI
        when it is higher-is-better and in ``(0, 1]`` (accuracy, mIoU, F1, ...). When some task has no such
        metric (a loss-like metric, or no validation data) the KPIs are left unchanged this epoch.
        """
        if val_metrics is None or higher_is_better is None:
            return
        kpis: dict[str, float] = {}
        for task, directions in higher_is_better.items():
            if not directions or task not in val_metrics:
                return
            metric, higher = next(iter(directions.items()))
            value = val_metrics[task].get(metric)
            if not higher or value is None or not 0.0 < float(value) <= 1.0:
                return
            kpis[task] = float(value)
        if self.task_names is None:
            self.task_names = self._check_names(list(kpis))
        self.update_kpi(kpis)

    # ---- weights -----------------------------------------------------------------------------
    def weights(self, losses: Tensor) -> Tensor:
        t = losses.shape[0]
        if self.kpi_average is None:
            return torch.ones(t, dtype=losses.dtype, device=losses.device)
        if len(self.kpi_average) != t:
            raise ValueError(f"DTP: {len(self.kpi_average)} KPIs were reported, got {t} losses")
        kappa = torch.tensor(self.kpi_average, dtype=torch.float64)
        w = -((1.0 - kappa) ** self.gamma) * torch.log(kappa.clamp_min(self.eps))
        return w.to(dtype=losses.dtype, device=losses.device)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("DTP", losses, ctx.task_names, self.num_tasks)
        names = [str(n) for n in ctx.task_names]
        if self.task_names is None:
            self.task_names = self._check_names(names)
        elif names != self.task_names:
            raise ValueError(f"DTP: the tasks changed from {self.task_names} to {names}")
        w = self.weights(losses.detach())
        return (w * losses).sum(), w

    def extra_repr(self) -> str:
        return f"gamma={self.gamma:g}, alpha={self.alpha:g}"
