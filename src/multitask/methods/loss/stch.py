"""Smooth Tchebycheff scalarisation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, register_method
from multitask.methods.loss._checks import (
    EpochAveragedWeighting,
    check_losses,
    check_nonnegative,
    check_num_tasks,
)

_IDEALS = ("zero", "running_min")
#: the official schedule: 5 warm-up epochs (``STCH_warmup_epoch = 4`` plus the measuring epoch) in the
#: paper's NYUv2 run of 200 epochs (``Xi-L/STCH``, ``STCH_MTL/examples/nyu/main_segnet.py``)
_OFFICIAL_WARMUP, _OFFICIAL_EPOCHS = 5, 200


def auto_warmup_epochs(num_epochs: int) -> int:
    """The official warm-up share of the run, ``⌈5 E / 200⌉`` epochs, kept below the budget ``E``.

    At least one epoch (it measures the normaliser) when ``E ≥ 2``; ``E − 1`` at most, so STCH itself
    runs for at least one epoch; 0 for a one-epoch run (no warm-up, normaliser 1). ``E = 200`` gives the
    official 5; the default bench's 4 epochs give 1.
    """
    if num_epochs < 2:
        return 0
    return min(math.ceil(_OFFICIAL_WARMUP * num_epochs / _OFFICIAL_EPOCHS), num_epochs - 1)


@register_method("stch")
class STCH(EpochAveragedWeighting):
    r"""Smooth Tchebycheff scalarisation (STCH).

    Lin, Zhang, Yang, Liu, Wang, Zhang. Smooth Tchebycheff Scalarization for Multi-Objective
    Optimization. ICML 2024.

    The Tchebycheff scalarisation $\max_t \lambda_t (f_t - z_t^*)$ smoothed with parameter $\mu$:

    $$
    g = T \mu \log \sum_t \exp\Big(\frac{\lambda_t (f_t - z_t^*)}{\mu}\Big),
    $$

    $$
    w_t = \frac{\partial g}{\partial f_t}
        = T \lambda_t \operatorname{softmax}\Big(\frac{\lambda \odot (f - z^*)}{\mu}\Big)_t
    $$

    ($\mu \to 0$ recovers the max, i.e. the worst task; large $\mu$ approaches the plain sum). The factor
    $T$ and $\lambda = 1$ follow the official multi-task code. The reported weights are $w_t$, the weights
    with respect to $f_t$ (the log-losses when ``log_losses=True``).

    As in the official multi-task code (``STCH_MTL``), by default $f_t = \log(L_t / n_t + \varepsilon)$: for
    the first ``warmup_epochs`` epochs the objective is the log-sum ``Σₜ log(Lₜ + ε)`` (weights 1), the last
    warm-up epoch's average losses become the normaliser ``n``, and STCH on the normalised log-losses
    starts after that with ideal point ``z* = 0``. ``warmup_epochs = 5`` reproduces the official default
    (``STCH_warmup_epoch = 4``: epochs 0–3 warm up, epoch 4 warms up and measures ``n``). With
    ``warmup_epochs = 0`` there is no warm-up and ``n = 1``.

    Warm-up and budget: the warm-up objective ``Σₜ log Lₜ`` is SI's, so a run that ends inside the
    warm-up is an SI run. The default ``warmup_epochs="auto"`` keeps the official share of the run
    (5 of the NYUv2 run's 200 epochs) once the training loop gives the budget through
    :meth:`on_train_begin`: :func:`auto_warmup_epochs` (``⌈E/40⌉``, at least 1 and at most ``E − 1``
    epochs; 1 for the default bench's 4 epochs). Before that hook (standalone use) ``"auto"`` means the
    official 5. Whenever the budget ends inside the warm-up, :meth:`on_train_begin` warns (once).

    ``log_losses=False`` uses ``fₜ = Lₜ / nₜ`` (the paper's general form). ``ideal="running_min"`` uses the
    running minimum of each ``fₜ`` seen so far (including the current step) as ``z*`` instead of 0.

    Epochs: every step adds its detached losses to the epoch average. Close an epoch with
    :meth:`on_epoch_end` (the training loop's hook) or give ``iters_per_epoch``; with neither, STCH stays
    in warm-up forever unless ``warmup_epochs = 0``.

    Partial labels (a task absent from a step, see ``multitask.backward``): ``T``, ``λ``, ``n`` and ``z*``
    are those of the present tasks; a task's epoch average is over the steps where it was present (a task
    never present in the measuring epoch keeps ``nₜ = 1``) and its running minimum is kept while absent.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector when given.
        mu: smoothing ``μ > 0`` (official default 1.0).
        warmup_epochs: epochs of log-sum warm-up, or ``"auto"`` (default: scaled to the run, see above).
        iters_per_epoch: when given, close an epoch automatically after this many steps.
        preference: optional positive ``λ`` (default all ones).
        log_losses: apply STCH to log-losses (default True, official) or to the losses.
        ideal: ``"zero"`` (default, official) or ``"running_min"``.
        eps: ``ε`` inside the logs (official 1e-20; kept above the dtype's smallest normal number).
    Modes: loss weighting (one backward pass; no Jacobian). With ``log_losses=True`` a negative loss raises
    ``ValueError`` naming the task; a loss of 0 is finite thanks to ``ε``.
    """

    _label = "STCH"
    _state_attrs: ClassVar[tuple[str, ...]] = (
        "epoch_sum",
        "epoch_count",
        "epochs_done",
        "normalizer",
        "ideal_point",
        "task_counts",
    )
    supports_absent = True
    _optional_state = ("task_counts",)

    def __init__(
        self,
        num_tasks: int | None = None,
        mu: float = 1.0,
        warmup_epochs: int | str = "auto",
        iters_per_epoch: int | None = None,
        preference: Sequence[float] | Tensor | None = None,
        log_losses: bool = True,
        ideal: str = "zero",
        eps: float = 1e-20,
    ) -> None:
        super().__init__()
        if not mu > 0:
            raise ValueError(f"STCH: mu must be > 0, got {mu}")
        if warmup_epochs != "auto" and (
            isinstance(warmup_epochs, (bool, str)) or not isinstance(warmup_epochs, int) or warmup_epochs < 0
        ):
            raise ValueError(f"STCH: warmup_epochs must be 'auto' or an int >= 0, got {warmup_epochs!r}")
        if iters_per_epoch is not None and (isinstance(iters_per_epoch, bool) or int(iters_per_epoch) < 1):
            raise ValueError(f"STCH: iters_per_epoch must be a positive int, got {iters_per_epoch}")
        if ideal not in _IDEALS:
            raise ValueError(f"STCH: ideal must be one of {_IDEALS}, got {ideal!r}")
        if not eps > 0:
            raise ValueError(f"STCH: eps must be > 0, got {eps}")
        self.num_tasks = None if num_tasks is None else check_num_tasks("STCH", num_tasks)
        self.mu = float(mu)
        #: the setting as given ("auto" or an int); ``warmup_epochs`` is the number in force
        self.warmup_setting: int | str = warmup_epochs
        self.warmup_epochs = _OFFICIAL_WARMUP if warmup_epochs == "auto" else int(warmup_epochs)
        self._budget_warned = False
        self.iters_per_epoch = None if iters_per_epoch is None else int(iters_per_epoch)
        self.preference: list[float] | None = None
        if preference is not None:
            pref = [float(p) for p in torch.as_tensor(preference).reshape(-1).tolist()]
            if not all(p > 0 for p in pref):
                raise ValueError(f"STCH: preference weights must be > 0, got {pref}")
            if self.num_tasks is not None and len(pref) != self.num_tasks:
                raise ValueError(f"STCH: preference has {len(pref)} entries, num_tasks is {self.num_tasks}")
            self.preference = pref
        self.log_losses = bool(log_losses)
        self.ideal = ideal
        self.eps = float(eps)
        self._clear()

    def _clear(self) -> None:
        self.epoch_sum: list[float] | None = None
        self.epoch_count = 0
        self.epochs_done = 0
        #: the normaliser n (None until the warm-up ends)
        self.normalizer: list[float] | None = None
        #: running minimum of f (ideal="running_min"; ``None`` entries: task never present)
        self.ideal_point: list[float | None] | None = None
        #: steps of the current epoch in which each task was present (partial labels)
        self.task_counts: list[int] | None = None

    def reset(self) -> None:
        super().reset()
        self._clear()

    @property
    def warming_up(self) -> bool:
        """True while the objective is the warm-up log-sum."""
        return self.epochs_done < self.warmup_epochs

    # ---- epochs ------------------------------------------------------------------------------
    def on_train_begin(self, num_epochs: int, steps_per_epoch: int) -> None:
        """Fit the warm-up to the run's budget (``"auto"``) and warn once if the run ends inside it."""
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
            raise ValueError(f"STCH: num_epochs must be an int >= 1, got {num_epochs!r}")
        if self.warmup_setting == "auto":
            self.warmup_epochs = auto_warmup_epochs(num_epochs)
        if self.warmup_epochs >= num_epochs and not self._budget_warned:
            self._budget_warned = True
            warnings.warn(
                f"STCH: the warm-up lasts {self.warmup_epochs} epochs but the run has {num_epochs}: it ends "
                "inside the warm-up, whose objective Σ log L is SI's, so this run is SI, not STCH; lower "
                "warmup_epochs (or use warmup_epochs='auto') or train longer",
                stacklevel=2,
            )

    def on_epoch_end(
        self,
        val_metrics: Mapping[str, Mapping[str, float]] | None = None,
        higher_is_better: Mapping[str, Mapping[str, bool]] | None = None,
    ) -> None:
        """Close the current epoch; closing the last warm-up epoch fixes the normaliser ``n``."""
        sums, counts = self._epoch_sums()
        self.epochs_done += 1
        if self.epochs_done == self.warmup_epochs:
            self.normalizer = [s / c if c > 0 else 1.0 for s, c in zip(sums, counts)]
        self._clear_epoch()

    # ---- objective ---------------------------------------------------------------------------
    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("STCH", losses, ctx.task_names, ctx.expected(self.num_tasks))
        if self.log_losses:
            check_nonnegative("STCH", losses, ctx.task_names)
        t = losses.shape[0] if ctx.present is None else int(ctx.num_tasks or losses.shape[0])
        if self.preference is not None and len(self.preference) != t:
            raise ValueError(f"STCH: preference has {len(self.preference)} entries, got {t} losses")
        index = list(range(t)) if ctx.present is None else [int(i) for i in ctx.present]
        if self.warming_up:
            total = torch.log(losses + self.eps).sum()
            weights = torch.ones_like(losses.detach())
        else:
            total, weights = self._smooth_tchebycheff(losses, index, t)
        self.record(losses, ctx.present, ctx.num_tasks)
        if self.iters_per_epoch is not None and self.epoch_count >= self.iters_per_epoch:
            self.on_epoch_end()
        return total, weights

    def _smooth_tchebycheff(self, losses: Tensor, index: list[int], total: int) -> tuple[Tensor, Tensor]:
        t = losses.shape[0]  # the present tasks (all of them unless some are absent from this step)
        ref = losses.detach()
        norm = torch.ones_like(ref)
        if self.normalizer is not None:
            norm = torch.tensor([self.normalizer[i] for i in index]).to(ref)
        norm = norm.clamp_min(torch.finfo(ref.dtype).tiny)
        f = torch.log(losses / norm + self.eps) if self.log_losses else losses / norm
        if self.ideal == "running_min":
            current = f.detach()
            point = self.ideal_point if self.ideal_point is not None else [None] * total
            if len(point) != total:
                raise ValueError(f"STCH: the ideal point has {len(point)} entries, got {total} tasks")
            seen = torch.tensor([point[i] if point[i] is not None else math.inf for i in index]).to(current)
            current = torch.minimum(current, seen)
            point = list(point)
            for i, v in zip(index, current.tolist()):
                point[i] = float(v)
            self.ideal_point = point
            f = f - current
        lam = torch.ones_like(ref)
        if self.preference is not None:
            lam = torch.tensor([self.preference[i] for i in index]).to(ref)
        scaled = lam * f / self.mu
        total_obj = t * self.mu * torch.logsumexp(scaled, dim=0)
        weights = t * lam * torch.softmax(scaled.detach(), dim=0)
        return total_obj, weights

    def extra_repr(self) -> str:
        return (
            f"mu={self.mu:g}, warmup_epochs={self.warmup_setting!r}, log_losses={self.log_losses}, "
            f"ideal={self.ideal!r}"
        )
