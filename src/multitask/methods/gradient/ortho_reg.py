"""Orthogonal-gradient regularisation: penalise the squared cosines between task gradients."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method


@register_method("ortho_reg")
class OrthoReg(LossWeighting):
    r"""Regularising multi-task networks with orthogonal gradients.

    Suteu & Guo. Regularizing Deep Multi-Task Networks using Orthogonal Gradients. arXiv:1912.06844, 2019.

    Objective:

    $$
    \mathcal{L} = \sum_t L_t + \lambda P, \qquad P = \sum_{i<j} \cos^2(g_i, g_j) \quad (\text{default}),
    $$

    with $g_t = \nabla_\theta L_t$ the task gradients w.r.t. the shared parameters $\theta$. Minimising it
    pushes the task gradients towards orthogonality, so each task head comes to rely on its own part of the
    shared encoder (less interference).

    Exact implementation (double back-propagation): the gradients ``gₜ`` are computed with
    ``torch.autograd.grad(Lₜ, θ, create_graph=True)``, the penalty is formed from them, and back-propagating
    ``L`` differentiates through the gradients (Hessian–vector products ``Hₜ ∇_{gₜ}P``). So every
    parameter — shared and head — receives the exact ``∇(Σₜ Lₜ + λP)``. A zero gradient contributes
    ``cos = 0``. Cost per step: ``T`` backward passes that build their own graphs plus one backward
    through all of them, roughly ``2T + 1`` ordinary backward passes and ``T`` retained gradient graphs of
    memory; ops without double-backward support (a few fused kernels) cannot be used.

    ``last_weights`` is ``(1, …, 1)`` (the loss part is a plain sum); ``last_penalty`` holds
    ``Σ_{i<j} cos²`` of the last step and ``last_cosines`` the ``[T, T]`` cosine matrix.

    Scale for ``T > 2``: ``P`` sums the ``T(T−1)/2`` pairs, so with the same ``λ`` the penalty grows with
    the number of pairs (3 pairs for 3 tasks, 45 for 10). ``reduction="mean"`` divides it by the number of
    pairs instead, which is the scale of the public re-implementation mentioned below; the two agree for
    ``T = 2``.

    Args:
        lam: ``λ ≥ 0``, the penalty weight (default 0.1; see the note below).
        reduction: ``"sum"`` (default) or ``"mean"`` over the task pairs.
    Modes: loss weighting (``multitask.backward`` without ``features``); the shared parameters must be
    given (``shared=...``), as the penalty is defined on their gradients.

    Note on λ: the paper tunes ``λ`` per dataset. An earlier default of 10 came from the public
    re-implementation in the Pylon code base (``CosRegOptimizer(penalty=10.0)``, mean of ``cos²`` over the
    pairs), but there the task gradients are taken with ``torch.autograd.grad`` without ``create_graph``,
    so the penalty is a constant with no gradient and that ``λ`` never acted. With the live penalty used
    here, ``λ = 10`` makes the penalty's gradient dominate and the model does not train. Measured on the
    default MultiMNIST setting (LeNet, hard sharing, Adam 1e-3, batch 128; 2 epochs of 150 steps, seed 0)
    with ``multitask train configs/multimnist_mgda.yaml --set method.name=ortho_reg --set
    method.mode=parameters --set "method.kwargs={lam: 0.1}" --set train.epochs=2 --set
    train.max_steps_per_epoch=150`` (``method.name=ew`` for EW), test accuracy (left / right digit):
    EW 71.35 % / 62.40 %, ``λ = 0.1`` 70.95 % / 61.85 %, ``λ = 10`` 13.30 % / 8.70 %. Hence the default
    0.1, which trains at EW's accuracy there; cosines ignore the losses' scale, so the penalty's gradient
    does not shrink as the losses fall: tune ``λ`` per benchmark, lower with plain SGD.
    """

    data_parallel_error: ClassVar[str] = (
        "its penalty differentiates the cosines of the per-task gradients (second order); the global "
        "batch's gradients would need an all-reduce inside the graph, which torch.distributed does not "
        "differentiate"
    )

    def __init__(self, lam: float = 0.1, reduction: str = "sum") -> None:
        super().__init__()
        if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
            raise ValueError(f"OrthoReg: lam must be a finite number >= 0, got {lam!r}")
        if reduction not in ("sum", "mean"):
            raise ValueError(
                f"OrthoReg: reduction must be 'sum' or 'mean' over the task pairs, got {reduction!r}"
            )
        self.lam = float(lam)
        self.reduction = reduction
        self.last_penalty: Tensor | None = None
        self.last_cosines: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.last_penalty = None
        self.last_cosines = None

    def weights(self, losses: Tensor) -> Tensor:
        return torch.ones_like(losses)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        params = [p for p in ctx.shared if p.requires_grad]
        if not params:
            raise ValueError(
                "OrthoReg needs the shared parameters (its penalty is on their gradients): call "
                "multitask.backward(losses, method, shared=encoder.parameters())"
            )
        t = losses.shape[0]
        ones = self.weights(losses.detach())
        total = losses.sum()
        if t < 2 or self.lam == 0.0:
            self.last_penalty = torch.zeros((), dtype=losses.dtype, device=losses.device)
            self.last_cosines = torch.ones(t, t, dtype=losses.dtype, device=losses.device)
            return total, ones
        units = torch.stack([self._unit_gradient(losses[i], params, ctx.task_names[i]) for i in range(t)])
        cos = units @ units.T
        upper = torch.triu(torch.ones(t, t, dtype=torch.bool, device=cos.device), diagonal=1)
        penalty = (cos[upper] ** 2).sum() if self.reduction == "sum" else (cos[upper] ** 2).mean()
        self.last_penalty = penalty.detach()
        self.last_cosines = cos.detach()
        return total + self.lam * penalty, ones

    @staticmethod
    def _unit_gradient(loss: Tensor, params: list[Tensor], name: str) -> Tensor:
        """``g / ‖g‖`` as a differentiable function of the parameters (zero when ``g = 0``)."""
        grads = torch.autograd.grad(loss, params, retain_graph=True, create_graph=True, allow_unused=True)
        flat = torch.cat(
            [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
        )
        scale = flat.detach().abs().amax()
        if not torch.isfinite(scale):
            raise ValueError(f"OrthoReg: the gradient of task {name!r} is not finite")
        if scale == 0:
            return torch.zeros_like(flat)
        scaled = flat / scale  # avoids overflow/underflow of ‖g‖² at extreme scales
        return scaled / torch.linalg.vector_norm(scaled)
