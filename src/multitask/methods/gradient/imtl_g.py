"""IMTL-G: the combination whose projections onto all unit task gradients are equal."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, normalized_work_gramian
from multitask.methods.base import GradientMethod, register_method


@register_method("imtl_g")
class IMTLG(GradientMethod):
    """Impartial Multi-Task Learning, gradient part (IMTL-G).

    Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang. Towards Impartial Multi-task Learning. ICLR 2021.

    Update rule: ``d = Σₜ αₜ gₜ`` with ``Σₜ αₜ = 1`` and equal projections onto the unit gradients
    ``uₜ = gₜ/‖gₜ‖``: ``dᵀu₁ = dᵀuₜ`` for all ``t``. Closed form (paper, eq. 7):
    ``α₂:T = g₁ Uᵀ (D Uᵀ)⁻¹``, ``α₁ = 1 − Σₜ₌₂ αₜ``, with rows ``Dₜ = g₁ᵀ − gₜᵀ`` and ``Uₜ = u₁ᵀ − uₜᵀ``.

    Gramian form used here: with ``Aₜₛ = Gₜₛ / ‖gₜ‖`` (so ``(Aα)ₜ = dᵀuₜ``), ``α`` solves the ``T x T``
    system ``(A₁ − Aₜ) α = 0`` (``t = 2..T``), ``1ᵀα = 1`` — the same equations as the closed form,
    which needs no ``J``. Tasks with an exactly zero gradient have no direction to be impartial to: they
    get weight 0 and the others share ``Σα = 1`` (all zero: uniform weights). When the system is singular
    (collinear or duplicated gradients, where many ``α`` give the same ``d``) the minimum-norm solution
    is taken (pseudo-inverse). The weights may be negative, as in the paper.

    Hyper-parameters: none.
    Modes: parameters, features.
    """

    needs = "gramian"

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        work, scale = normalized_work_gramian(gramian)
        if scale <= 1e-300 or t == 1:
            return torch.full((t,), 1.0 / t, dtype=gramian.dtype, device=gramian.device)
        diag = work.diagonal().clamp_min(0.0)
        active = (diag > 1e-30).nonzero().flatten()
        out = torch.zeros(t, dtype=work.dtype, device=work.device)
        if active.numel() == 1:
            out[active] = 1.0
            return out.to(gramian.dtype)
        sub = work.index_select(0, active).index_select(1, active)
        proj = sub / diag[active].sqrt()[:, None]  # row t: projections of every g_s onto u_t
        k = active.numel()
        system = torch.cat([proj[:1] - proj[1:], torch.ones(1, k, dtype=work.dtype, device=work.device)])
        rhs = torch.zeros(k, dtype=work.dtype, device=work.device)
        rhs[-1] = 1.0
        # the Gramian carries the input dtype's rounding: treat smaller singular values as zero
        rtol = 100.0 * torch.finfo(gramian.dtype).eps * k
        alpha = torch.linalg.pinv(system, rtol=rtol) @ rhs
        out[active] = alpha
        return out.to(gramian.dtype)
