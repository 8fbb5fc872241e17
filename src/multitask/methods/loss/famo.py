"""FAMO: fast adaptive multitask optimisation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import check_losses, check_nonnegative, require_num_tasks


@register_method("famo")
class FAMO(LossWeighting):
    r"""Fast Adaptive Multitask Optimization (FAMO).

    Liu, Feng, Stone, Liu. FAMO: Fast Adaptive Multitask Optimization. NeurIPS 2023.

    Task weights $z = \operatorname{softmax}(\xi)$ come from logits $\xi$ that FAMO updates itself. With
    offsets $b_t$ (lower bounds of the losses, default 0) and $D_t = L_t - b_t + \varepsilon$:

    $$
    c = \sum_t \frac{z_t}{D_t} \ \text{(held constant)}, \qquad
    \mathcal{L} = \frac{1}{c} \sum_t z_t \log D_t, \qquad
    w_t = \frac{\partial \mathcal{L}}{\partial L_t} = \frac{z_t}{c D_t},
    $$

    so $\sum_t w_t = 1$ and the step decreases every log-loss at a balanced rate. After the model's
    optimizer step, with $\delta_t = \log D_t(\text{before}) - \log D_t(\text{after})$ the decrease of each
    log-loss, the logits take one Adam step on the gradient
    $\partial (z^\top \delta) / \partial \xi = z \odot (\delta - z^\top \delta)$ with weight decay $\gamma$
    (as the official code does with ``torch.optim.Adam(lr, weight_decay=γ)``; the paper writes the
    plain-gradient version $\xi \leftarrow \xi - \alpha(\delta + \gamma \xi)$). Tasks whose loss fell less
    gain weight.

    Which "after" losses: the exact variant re-evaluates the losses on the same batch after the
    optimizer step and calls :meth:`update` with them, as the official training scripts do. By default
    (no :meth:`update` call between two steps) FAMO uses the next step's losses, i.e. the decrease from
    one batch to the next, which costs no extra forward pass but is noisier.

    Args:
        num_tasks: number of tasks ``T``, required (``TypeError`` saying so when missing). The logits are
            buffers FAMO updates itself: they do not go to the model's optimizer.
        lr: learning rate of the logits (official default 0.025).
        gamma: weight decay ``γ`` of the logits (default 1e-3). The authors' run scripts
            (``Cranial-XIX/FAMO``) use 1e-3 for CelebA and QM9 (``experiments/{celeba,quantum_chemistry}/
            run.sh``); Cityscapes and NYUv2 have no script and run with the shared parser's default 0.01,
            which the example ``famo.py`` also uses; the toy example uses 0. Tune it per benchmark.
        min_losses: offsets ``bₜ`` (default 0; :meth:`set_min_losses` changes them).
        eps: ``ε`` in ``Dₜ`` (official 1e-8).
        betas: Adam's moment factors for the logits (torch defaults 0.9, 0.999).
        adam_eps: Adam's denominator term for the logits (torch default 1e-8).
    Partial labels (a task absent from a step, see ``multitask.backward``): the step's weights are FAMO's
    on the present tasks (``z`` the softmax of their logits); the logits update uses the tasks present
    in both steps of the decrease ``δ`` and moves only their logits and Adam moments (each logit counts
    its own Adam steps for the bias correction); an absent task's logit waits unchanged.

    Modes: loss weighting (one backward pass; no Jacobian). A loss below its offset raises ``ValueError``
    naming the task; ``Lₜ = bₜ`` is fine (``Dₜ = ε``).
    """

    _state_attrs: ClassVar[tuple[str, ...]] = ("adam_steps", "prev_losses", "prev_present")
    supports_absent = True
    _optional_state = ("prev_present",)

    logits: Tensor
    exp_avg: Tensor
    exp_avg_sq: Tensor
    min_losses: Tensor

    def __init__(
        self,
        num_tasks: int | None = None,
        lr: float = 0.025,
        gamma: float = 1e-3,
        min_losses: Sequence[float] | Tensor | None = None,
        eps: float = 1e-8,
        betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.num_tasks = require_num_tasks("FAMO", "famo", num_tasks, "task logits", optimizer=False)
        if not lr > 0:
            raise ValueError(f"FAMO: lr must be > 0, got {lr}")
        if not gamma >= 0:
            raise ValueError(f"FAMO: gamma must be >= 0, got {gamma}")
        if not eps > 0 or not adam_eps > 0:
            raise ValueError(f"FAMO: eps and adam_eps must be > 0, got {eps}, {adam_eps}")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"FAMO: betas must be two numbers in [0, 1), got {betas}")
        self.lr = float(lr)
        self.gamma = float(gamma)
        self.eps = float(eps)
        self.betas = (float(betas[0]), float(betas[1]))
        self.adam_eps = float(adam_eps)
        self.register_buffer("logits", torch.zeros(self.num_tasks))
        self.register_buffer("exp_avg", torch.zeros(self.num_tasks))
        self.register_buffer("exp_avg_sq", torch.zeros(self.num_tasks))
        self.register_buffer("min_losses", torch.zeros(self.num_tasks))
        #: Adam steps each logit has taken (differs from ``adam_steps`` only under partial labels)
        self.register_buffer("task_steps", torch.zeros(self.num_tasks))
        if min_losses is not None:
            self.set_min_losses(min_losses)
        self.adam_steps = 0
        self.prev_losses: Tensor | None = None
        #: task indices of ``prev_losses`` when tasks were absent from that step (``None``: all present)
        self.prev_present: list[int] | None = None

    def reset(self) -> None:
        """Forget the pending losses and the logits' Adam state; the logits themselves are kept."""
        super().reset()
        self.adam_steps = 0
        self.prev_losses = None
        self.prev_present = None
        self.task_steps.zero_()
        self.exp_avg.zero_()
        self.exp_avg_sq.zero_()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        key = prefix + "task_steps"
        if key not in state_dict:  # saved before partial labels: every logit took every Adam step
            extra = state_dict.get(prefix + "_extra_state", {})
            steps = float(extra.get("adam_steps", 0)) if isinstance(extra, dict) else 0.0
            state_dict[key] = torch.full_like(self.task_steps, steps)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]

    def set_min_losses(self, min_losses: Sequence[float] | Tensor) -> None:
        """Set the offsets ``bₜ`` (lower bounds of the losses)."""
        b = torch.as_tensor(min_losses, dtype=self.min_losses.dtype).detach().reshape(-1)
        if b.numel() != self.num_tasks or not torch.isfinite(b).all():
            raise ValueError(f"FAMO: min_losses must be {self.num_tasks} finite numbers, got {min_losses}")
        self.min_losses.copy_(b.to(self.min_losses.device))

    def _log_gap(self, losses: Tensor) -> Tensor:
        return torch.log(losses - self.min_losses.to(losses) + self.eps)

    def update(self, new_losses: Mapping[str, Tensor | float] | Sequence[Tensor | float] | Tensor) -> None:
        """Update the logits from the losses after the optimizer step (same batch: the exact variant).

        ``new_losses``: a ``[T]`` tensor, a sequence in task order, or a ``{task: loss}`` mapping in task
        order (as given to ``multitask.backward``).
        """
        if self.prev_losses is None:
            raise ValueError("FAMO: update() needs a previous step; call it after backward/combine")
        if isinstance(new_losses, Mapping):
            names = [str(k) for k in new_losses]
            values: Sequence[Tensor | float] | Tensor = list(new_losses.values())
        else:
            names = [str(i) for i in range(self.num_tasks)]
            values = new_losses
        if isinstance(values, Tensor):
            new = values.detach().reshape(-1)
        else:
            new = torch.stack([torch.as_tensor(v).detach().reshape(()) for v in values])
        new = new.to(self.prev_losses)
        self._apply_update(new, names)

    def _apply_update(self, new: Tensor, names: Sequence[str], present: list[int] | None = None) -> None:
        if present is None and self.prev_present is None:
            check_losses("FAMO", new, names, self.num_tasks)
            check_nonnegative("FAMO", new, names, self.min_losses)
            delta = self._log_gap(self.prev_losses) - self._log_gap(new)
            z = torch.softmax(self.logits.to(delta), dim=0)
            grad = z * (delta - (z * delta).sum())  # = J_softmax(ξ)ᵀ δ = ∂(zᵀδ)/∂ξ
            self._adam_step(grad.to(self.logits))
            self.prev_losses = None
            return
        self._apply_partial_update(new, present)

    def _apply_partial_update(self, new: Tensor, present: list[int] | None) -> None:
        """Partial labels: the update on the tasks present in both steps (``new`` holds ``present``)."""
        prev_index = self.prev_present if self.prev_present is not None else list(range(self.num_tasks))
        new_index = present if present is not None else list(range(self.num_tasks))
        common = [i for i in new_index if i in prev_index]
        self.prev_losses, prev = None, self.prev_losses
        if not common:
            return
        idx = torch.tensor(common, device=self.logits.device)
        before = prev.reshape(-1)[torch.tensor([prev_index.index(i) for i in common])].to(self.logits)
        after = new.reshape(-1)[torch.tensor([new_index.index(i) for i in common])].to(self.logits)
        offsets = self.min_losses[idx]
        delta = torch.log(before - offsets + self.eps) - torch.log(after - offsets + self.eps)
        z = torch.softmax(self.logits[idx], dim=0)
        grad = torch.zeros_like(self.logits)
        grad[idx] = z * (delta - (z * delta).sum())
        self._adam_step(grad, idx)

    def _adam_step(self, grad: Tensor, index: Tensor | None = None) -> None:
        beta1, beta2 = self.betas
        self.adam_steps += 1
        if index is not None:  # partial labels: only these logits move, each with its own step count
            self.task_steps[index] += 1
            g = grad[index] + self.gamma * self.logits[index]
            self.exp_avg[index] = self.exp_avg[index] * beta1 + (1.0 - beta1) * g
            self.exp_avg_sq[index] = self.exp_avg_sq[index] * beta2 + (1.0 - beta2) * g * g
            steps = self.task_steps[index]
            m_hat = self.exp_avg[index] / (1.0 - beta1**steps)
            v_hat = self.exp_avg_sq[index] / (1.0 - beta2**steps)
            self.logits[index] -= self.lr * m_hat / (v_hat.sqrt() + self.adam_eps)
            return
        self.task_steps += 1
        grad = grad + self.gamma * self.logits
        self.exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        m_hat = self.exp_avg / (1.0 - beta1**self.adam_steps)
        v_hat = self.exp_avg_sq / (1.0 - beta2**self.adam_steps)
        self.logits.sub_(self.lr * m_hat / (v_hat.sqrt() + self.adam_eps))

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("FAMO", losses, ctx.task_names, ctx.expected(self.num_tasks))
        present = None if ctx.present is None else [int(i) for i in ctx.present]
        idx = None if present is None else torch.tensor(present, device=self.logits.device)
        offsets = self.min_losses if idx is None else self.min_losses[idx]
        check_nonnegative("FAMO", losses, ctx.task_names, offsets)
        if self.prev_losses is not None:  # no update() since the last step: use this step's losses
            self._apply_update(losses.detach(), ctx.task_names, present)
        gap = losses - offsets.to(losses) + self.eps
        z = torch.softmax((self.logits if idx is None else self.logits[idx]).to(losses), dim=0)
        c = (z / gap.detach()).sum()
        total = (z * torch.log(gap)).sum() / c
        self.prev_losses = losses.detach().clone()
        self.prev_present = present
        return total, (z / (c * gap.detach())).detach()

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, lr={self.lr:g}, gamma={self.gamma:g}"
