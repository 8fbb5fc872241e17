"""The update an optimizer *would* apply to a parameter for a given gradient, without applying it.

TAG's official code takes the lookahead step with the training optimizer's own rule (Fifty et al.,
NeurIPS 2021, ``tag/celeba/CelebA.ipynb``: the momentum buffer of Keras SGD enters the step). This
module re-derives PyTorch's update rules from its documentation, reading (never writing) the
optimizer's state, so ``θ − update(g)`` equals what ``optimizer.step()`` would produce if ``g`` were
the parameter's ``.grad``:

* ``torch.optim.SGD``: ``d = g + λθ``; with momentum ``μ``: ``b = μ b_prev + (1 − τ) d`` (``b = d`` at
  the first step), ``d = d + μ b`` (Nesterov) or ``d = b``; update ``η d``.
* ``torch.optim.Adam`` / ``AdamW``: with step ``s`` (the state's count + 1),
  ``m = β₁ m_prev + (1 − β₁) g``, ``v = β₂ v_prev + (1 − β₂) g²`` (AMSGrad: ``v̂ = max(v̂_prev, v)``),
  update ``η / (1 − β₁^s) · m / (√v / √(1 − β₂^s) + ε)``; weight decay added to ``g`` (Adam) or
  decoupled, ``η λ θ`` (AdamW / ``decoupled_weight_decay``).

``maximize`` negates the gradient. Other optimizers raise ``TypeError``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["optimizer_update", "param_group_of"]


def param_group_of(optimizer: torch.optim.Optimizer, param: Tensor, name: str) -> dict[str, Any]:
    """The parameter group holding ``param`` (``ValueError`` naming it when the optimizer lacks it)."""
    for group in optimizer.param_groups:
        if any(p is param for p in group["params"]):
            return group
    raise ValueError(f"lookahead affinity: shared parameter {name!r} is not in the optimizer's param groups")


def _float(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def optimizer_update(
    optimizer: torch.optim.Optimizer, param: Tensor, grad: Tensor, group: dict[str, Any]
) -> Tensor:
    """``Δ`` such that ``optimizer.step()`` with ``param.grad = grad`` would set ``param ← param − Δ``."""
    lr = _float(group["lr"])
    p = param.detach()
    g = -grad if group.get("maximize", False) else grad
    state = optimizer.state.get(param, {})
    if isinstance(optimizer, torch.optim.SGD):
        wd, mom = group.get("weight_decay", 0.0), group.get("momentum", 0.0)
        d = g + wd * p if wd else g
        if mom:
            buf = state.get("momentum_buffer")
            buf = d if buf is None else mom * buf + (1.0 - group.get("dampening", 0.0)) * d
            d = d + mom * buf if group.get("nesterov", False) else buf
        return lr * d
    if isinstance(optimizer, torch.optim.Adam):  # AdamW is an Adam with decoupled weight decay
        beta1, beta2 = (_float(b) for b in group["betas"])
        eps, wd = group["eps"], group.get("weight_decay", 0.0)
        decoupled = isinstance(optimizer, torch.optim.AdamW) or group.get("decoupled_weight_decay", False)
        step = _float(state.get("step", 0.0)) + 1.0
        if wd and not decoupled:
            g = g + wd * p
        m_prev, v_prev = state.get("exp_avg"), state.get("exp_avg_sq")
        m = (1 - beta1) * g if m_prev is None else beta1 * m_prev + (1 - beta1) * g
        v = (1 - beta2) * g * g if v_prev is None else beta2 * v_prev + (1 - beta2) * g * g
        if group.get("amsgrad", False) and "max_exp_avg_sq" in state:
            v = torch.maximum(state["max_exp_avg_sq"], v)
        denom = v.sqrt() / (1 - beta2**step) ** 0.5 + eps
        update = (lr / (1 - beta1**step)) * m / denom
        if wd and decoupled:
            update = update + lr * wd * p
        return update
    raise TypeError(
        f"lookahead affinity: update='optimizer' supports torch.optim.SGD, Adam and AdamW, not "
        f"{type(optimizer).__name__}; use update='sgd' (the paper's plain step) for other optimizers"
    )
