"""CAGrad: the best worst-task improvement within a ball around the mean gradient."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian
from multitask.core.solvers import conflict_averse_weights
from multitask.methods.base import GradientMethod, register_method


@register_method("cagrad")
class CAGrad(GradientMethod):
    r"""Conflict-Averse Gradient descent.

    Liu, Liu, Jin, Stone, Liu. Conflict-Averse Gradient Descent for Multi-task Learning. NeurIPS 2021.

    Primal: $\max_d \min_i g_i^\top d$ s.t. $\|d - g_0\| \le c \|g_0\|$, $g_0 = \frac1T \sum_i g_i$. Its dual
    (eq. 3) and the update:

    $$
    w = \arg\min_{w \in \Delta} \; g_w^\top g_0 + \sqrt{\phi} \, \|g_w\|, \qquad
    g_w = \sum_i w_i g_i, \qquad \sqrt{\phi} = c \|g_0\|,
    $$

    $$
    d = g_0 + \frac{\sqrt{\phi}}{\|g_w\|} g_w .
    $$

    As weights of the rows of $J$: $d = \sum_i (1/T + \lambda w_i) g_i$ with
    $\lambda = c \|g_0\| / \|g_w\|$ — everything comes from the Gramian
    ($\|g_0\|^2 = \operatorname{mean}(G)$, $\|g_w\|^2 = w^\top G w$), so the engine never needs $J$ itself.
    The dual is solved exactly in torch (:func:`multitask.core.solvers.conflict_averse_weights`) instead of
    SLSQP. ``rescale`` (official code): 0 returns $d$; 1 returns $d / (1 + c^2)$ (default); 2 returns
    $d / (1 + c)$.

    Overall scale: the authors' NYUv2/Cityscapes code (``Cranial-XIX/CAGrad``, ``overwrite_grad``)
    multiplies the rescaled ``d`` by ``T`` "to match the sum loss" before the optimizer step; LibMTL does
    not. ``scale="mean"`` (default) follows LibMTL (the weights above, summing to about 1, like the mean
    loss); ``scale="sum"`` follows the authors' code (weights times ``T``, like the summed loss). The
    direction is the same; with plain SGD the step length, hence the effective learning rate, differs by
    ``T`` (adaptive optimizers such as Adam are nearly insensitive to it).

    Guarantees: ``c = 0`` gives the mean gradient; since ``g₀`` is feasible,
    ``minᵢ gᵢᵀd ≥ minᵢ gᵢᵀg₀`` (the worst task does at least as well as under GD); for ``c ≥ 1`` the
    ball contains 0, so ``minᵢ gᵢᵀd ≥ 0``: the direction conflicts with no task.

    Args:
        c: radius of the ball, relative to ``‖g₀‖`` (paper default 0.4; the official code's ``alpha``).
        rescale: 0, 1 (default) or 2 as above.
        scale: ``"mean"`` (default, LibMTL) or ``"sum"`` (the authors' code: the update times ``T``).
        max_iter: cap on the dual solver's outer iterations.
        tol: the dual solver's relative tolerance.
    Modes: parameters, features.
    """

    needs = "gramian"

    def __init__(
        self, c: float = 0.4, rescale: int = 1, max_iter: int = 100, tol: float = 1e-7, scale: str = "mean"
    ) -> None:
        super().__init__()
        if not (isinstance(c, (int, float)) and math.isfinite(c) and c >= 0):
            raise ValueError(f"CAGrad: c must be a finite number >= 0, got {c!r}")
        if rescale not in (0, 1, 2):
            raise ValueError(f"CAGrad: rescale must be 0, 1 or 2, got {rescale!r}")
        if scale not in ("mean", "sum"):
            raise ValueError(f"CAGrad: scale must be 'mean' (LibMTL) or 'sum' (authors' code), got {scale!r}")
        if int(max_iter) < 1:
            raise ValueError(f"CAGrad: max_iter must be >= 1, got {max_iter}")
        if not tol > 0:
            raise ValueError(f"CAGrad: tol must be > 0, got {tol}")
        self.c = float(c)
        self.rescale = int(rescale)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.scale = scale
        #: the dual solution ``w`` of the last call (``last_weights`` holds the final row weights)
        self.last_dual: Tensor | None = None

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        work = work_gramian(gramian)
        w = conflict_averse_weights(work, self.c, max_iter=self.max_iter, tol=self.tol)
        self.last_dual = w.to(gramian.dtype)
        g0_sq = work.mean().clamp_min(0.0)
        gw_sq = (w @ work @ w).clamp_min(0.0)
        scale = work.diagonal().max().clamp_min(0.0)
        # λ = c‖g₀‖/‖g_w‖; when g_w vanishes (relative to the largest gradient) d is g₀ itself
        ok = gw_sq > 1e-24 * scale
        lam = torch.where(ok, self.c * g0_sq.sqrt() / torch.where(ok, gw_sq, 1.0).sqrt(), 0.0)
        out = torch.full_like(w, 1.0 / t) + lam * w
        if self.rescale == 1:
            out = out / (1.0 + self.c**2)
        elif self.rescale == 2:
            out = out / (1.0 + self.c)
        if self.scale == "sum":  # authors' overwrite_grad: "to match the sum loss"
            out = out * t
        return out.to(gramian.dtype)

    def reset(self) -> None:
        super().reset()
        self.last_dual = None

    def extra_repr(self) -> str:
        return f"c={self.c}, rescale={self.rescale}, scale={self.scale!r}"
