"""Euclidean projection onto the probability simplex (torch, batched over leading dimensions)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["project_simplex"]


def project_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of ``v`` onto the probability simplex along the last dimension.

    ``argmin_{w ≥ 0, Σw = 1} ‖w − v‖²`` by the sort-based rule of Held, Wolfe & Crowder (1974) /
    Duchi et al. (ICML 2008): with ``u`` sorted decreasingly, ``ρ = max{j : u_j − (Σ_{i≤j} u_i − 1)/j > 0}``
    and ``θ = (Σ_{i≤ρ} u_i − 1)/ρ``, the projection is ``max(v − θ, 0)``. Works on any batch shape.
    """
    if not isinstance(v, Tensor):
        raise TypeError(f"project_simplex: expected a torch.Tensor, got {type(v).__name__}")
    if not v.is_floating_point():
        raise TypeError(f"project_simplex: expected a floating tensor, got {v.dtype}")
    if v.dim() == 0 or v.shape[-1] == 0:
        raise ValueError(f"project_simplex: need a non-empty last dimension, got shape {tuple(v.shape)}")
    if not torch.isfinite(v).all():
        raise ValueError("project_simplex: the input has non-finite entries")
    n = v.shape[-1]
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(dim=-1) - 1.0
    idx = torch.arange(1, n + 1, device=v.device, dtype=v.dtype)
    cond = (u - css / idx) > 0
    # ρ: the last index where cond holds (cond holds for a prefix; index 0 always qualifies)
    rho = (cond.to(torch.long) * torch.arange(n, device=v.device)).amax(dim=-1, keepdim=True)
    theta = css.gather(-1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0.0)
