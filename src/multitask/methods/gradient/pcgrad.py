"""PCGrad: project each task gradient off the normal planes of the gradients it conflicts with."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian
from multitask.methods.base import register_method
from multitask.methods.gradient._random import SeededGenerator, SeededGradientMethod


@register_method("pcgrad")
class PCGrad(SeededGradientMethod):
    r"""Projecting Conflicting Gradients ("gradient surgery").

    Yu, Kumar, Gupta, Levine, Hausman, Finn. Gradient Surgery for Multi-Task Learning. NeurIPS 2020.

    Update rule (Algorithm 1): for every task $i$, start from $g_i^{PC} = g_i$ and, for the other tasks
    $j \ne i$ in a random order,

    $$
    \text{if } g_i^{PC} \cdot g_j < 0: \qquad
    g_i^{PC} \leftarrow g_i^{PC} - \frac{g_i^{PC} \cdot g_j}{\|g_j\|^2} \, g_j ;
    $$

    the update is $d = \sum_i g_i^{PC}$ (``reduction="sum"``, the paper and LibMTL) or its mean.

    Every ``gᵢᴾᶜ`` stays a combination of the original rows, so the method runs on the Gramian alone:
    with coefficient rows ``C`` (``gᵢᴾᶜ = Cᵢ J``), ``gᵢᴾᶜ · gⱼ = Cᵢ G eⱼ`` and the projection subtracts
    ``(Cᵢ G eⱼ / Gⱼⱼ) eⱼ`` from ``Cᵢ``; the weights are ``w = Σᵢ Cᵢ``. All ``i`` are projected in
    parallel (one vectorised step per position in the order). Zero gradients are never projected onto.

    Args:
        reduction: ``"sum"`` (default, paper) or ``"mean"``.
        deterministic: use the fixed order ``j = 0, 1, …, T−1`` (skipping ``i``) instead of a random one.
        seed: seed of the method's own generator for the random orders; ``None`` (default) draws from
            torch's global generator.
    Modes: parameters, features.
    """

    needs = "gramian"
    _state_attrs = ("rng_state",)

    def __init__(self, reduction: str = "sum", deterministic: bool = False, seed: int | None = None) -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"PCGrad: reduction must be 'sum' or 'mean', got {reduction!r}")
        self.reduction = reduction
        self.deterministic = bool(deterministic)
        self._rng = SeededGenerator(seed)

    def orders(self, num_tasks: int) -> Tensor:
        """``[T, T−1]`` long tensor: row ``i`` is the order in which task ``i`` visits the others."""
        t = num_tasks
        if self.deterministic:
            base = torch.arange(t).expand(t, t)
        else:
            keys = torch.rand(t, t, generator=self._rng.get("cpu"))
            keys.fill_diagonal_(2.0)  # task i itself sorts last and is dropped
            base = keys.argsort(dim=1)
        mask = base != torch.arange(t)[:, None]
        return base[mask].reshape(t, t - 1)

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        work = work_gramian(gramian)
        # the T − 1 positions are sequential (each projection changes gᵢᴾᶜ); numpy on a host copy, as the
        # other Gramian methods' solvers (a T × T problem: torch dispatches would cost several times more)
        g = work.detach().cpu().numpy()
        coef = np.eye(t, dtype=g.dtype)
        if t > 1:
            order = self.orders(t).numpy()
            rows = np.arange(t)
            diag = np.diagonal(g)
            for k in range(t - 1):
                j = order[:, k]  # task visited at position k, for every i at once
                dots = (coef * g[:, j].T).sum(axis=1)  # gᵢᴾᶜ · gⱼ
                gjj = diag[j]
                ok = (dots < 0) & (gjj > 0)
                coef[rows, j] -= np.where(ok, dots / np.where(gjj > 0, gjj, 1.0), 0.0)
        w = torch.as_tensor(coef.sum(axis=0)).to(dtype=work.dtype, device=work.device)
        if self.reduction == "mean":
            w = w / t
        return w.to(gramian.dtype)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, deterministic={self.deterministic}, seed={self._rng.seed}"
