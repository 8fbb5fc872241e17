"""GradNorm: learnable weights that equalise the task-gradient norms at the last shared layer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

import torch
from torch import Tensor, nn

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import FrozenParameterWatch, check_losses, require_num_tasks


@register_method("gradnorm")
class GradNorm(LossWeighting):
    r"""GradNorm, gradient normalisation for adaptive loss balancing.

    Chen, Badrinarayanan, Lee, Rabinovich. GradNorm: Gradient Normalization for Adaptive Loss Balancing
    in Deep Multitask Networks. ICML 2018.

    With learnable weights $w_t$, the parameters $W$ of the last shared layer and $L_t(0)$ the losses
    of the first step:

    $$
    G_t = \|\nabla_W w_t L_t\| = w_t \|\nabla_W L_t\|, \qquad \bar G = \operatorname{mean}_t G_t, \qquad
    \tilde L_t = \frac{L_t}{L_t(0)}, \qquad r_t = \frac{\tilde L_t}{\operatorname{mean}_i \tilde L_i},
    $$

    $$
    L_{\text{grad}} = \sum_t \big|G_t - \bar G r_t^\alpha\big|
    $$

    ($\tilde L_t = 1$ if $L_t(0) = 0$; $\bar G r_t^\alpha$ held constant, as in the paper).
    Each step (i) renormalises the weights so that $\sum_t w_t = T$ (negative weights are first clipped to
    0), (ii) adds $\partial L_{\text{grad}} / \partial w$ to the weights' ``.grad`` (only the weights:
    $L_{\text{grad}}$ never reaches the network), and (iii) returns the objective $\sum_t w_t L_t$ with the
    weights held constant, whose backward pass trains the network. The user's optimizer must get
    ``method.parameters()`` (the weights) besides the model's parameters; the paper uses the network's
    optimizer and learning rate. If the weights have not moved after 3 steps (left out of the optimizer)
    GradNorm warns once.

    ``W`` is ``params`` when given at construction, otherwise the last tensor of ``shared`` (as passed
    to ``multitask.backward``) with at least two dimensions, i.e. the weight matrix / kernel of the last
    shared layer. Standalone use (:meth:`combine`) needs ``params``.

    Args:
        num_tasks: number of tasks ``T``, required (``TypeError`` saying so when missing).
        alpha: asymmetry ``α`` (the paper uses 1.5 on NYUv2 and reports ``α ∈ (0, 3)`` to work; 0 pulls
            all gradient norms to their mean).
        params: the shared parameters whose gradient norms are balanced (default: see above).
    Modes: loss weighting (one extra ``autograd.grad`` per task, restricted to ``W``; no Jacobian).
    """

    _state_attrs: ClassVar[tuple[str, ...]] = ("initial_losses",)

    def __init__(
        self, num_tasks: int | None = None, alpha: float = 1.5, params: Iterable[Tensor] | None = None
    ) -> None:
        super().__init__()
        self.num_tasks = require_num_tasks("GradNorm", "gradnorm", num_tasks, "loss weights", optimizer=True)
        if not alpha >= 0:
            raise ValueError(f"GradNorm: alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)
        self.loss_weights = nn.Parameter(torch.ones(self.num_tasks))
        self._watch = FrozenParameterWatch()
        # a plain list: these are the model's tensors, not the method's parameters
        self._params: list[Tensor] | None = None
        if params is not None:
            self._params = list(params)
            if not self._params:
                raise ValueError("GradNorm: params is empty; give the last shared layer's parameters")
            for i, p in enumerate(self._params):
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise ValueError(f"GradNorm: params[{i}] must be a tensor that requires grad")
        self.initial_losses: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.initial_losses = None

    def renormalize(self) -> None:
        """Clip negative weights to 0 and rescale so that ``Σₜ wₜ = T`` (all ones if all are 0)."""
        with torch.no_grad():
            w = self.loss_weights
            w.clamp_(min=0.0)
            total = w.sum()
            if total > 0:
                w.mul_(self.num_tasks / total)
            else:
                w.fill_(1.0)

    def _layer(self, ctx: LossContext) -> list[Tensor]:
        if self._params is not None:
            return self._params
        candidates = [p for p in ctx.shared if p.dim() >= 2]
        if not candidates:
            raise ValueError(
                "GradNorm: no shared parameter with >= 2 dimensions to take gradient norms on; pass "
                "shared=... to multitask.backward or params=[last_shared_layer.weight] at construction"
            )
        return [candidates[-1]]

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("GradNorm", losses, ctx.task_names, self.num_tasks)
        self._watch.check("GradNorm", [self.loss_weights], "loss weights")
        self.renormalize()
        layer = self._layer(ctx)
        values = losses.detach()
        norms = self._grad_norms(losses, layer, ctx.reduce)
        if self.initial_losses is None:
            self.initial_losses = values.clone()
        rate = self._inverse_rates(values)
        with torch.enable_grad():
            g = self.loss_weights.to(values) * norms
            target = (g.mean() * rate**self.alpha).detach()
            l_grad = (g - target).abs().sum()
            (dw,) = torch.autograd.grad(l_grad, self.loss_weights)
        if self.loss_weights.grad is None:
            self.loss_weights.grad = dw.detach().clone()
        else:
            self.loss_weights.grad.add_(dw.detach())
        weights = self.loss_weights.detach().to(values.dtype).clone()
        return (weights * losses).sum(), weights

    def _inverse_rates(self, values: Tensor) -> Tensor:
        """``rₜ = L̃ₜ / mean L̃``, ``L̃ₜ = Lₜ/Lₜ(0)`` (1 when ``Lₜ(0) = 0``); ``r = 1`` when all ``L̃`` are
        0."""
        assert self.initial_losses is not None
        initial = self.initial_losses.to(values)
        relative = torch.where(initial > 0, values / initial.where(initial > 0, 1.0), torch.ones_like(values))
        mean = relative.mean()
        return relative / mean if mean > 0 else torch.ones_like(values)

    def _grad_norms(self, losses: Tensor, layer: list[Tensor], reduce: Callable | None = None) -> Tensor:
        """``‖∇_W Lₜ‖`` for every task (detached; 0 for a task that does not reach ``W``).

        Under data parallelism (``reduce``) the gradients are averaged over the processes first: the norms
        are the global batch's.
        """
        if not losses.requires_grad:
            raise ValueError("GradNorm: the losses carry no graph, so their gradients cannot be taken")
        norms = []
        for i in range(losses.shape[0]):
            grads = torch.autograd.grad(losses[i], layer, retain_graph=True, allow_unused=True)
            if reduce is not None:
                grads = reduce([torch.zeros_like(p) if g is None else g for g, p in zip(grads, layer)])
            parts = [torch.linalg.vector_norm(g.detach()).to(losses.dtype) for g in grads if g is not None]
            norms.append(torch.linalg.vector_norm(torch.stack(parts)) if parts else losses.new_zeros(()))
        return torch.stack(norms).to(device=losses.device)

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, alpha={self.alpha:g}"
