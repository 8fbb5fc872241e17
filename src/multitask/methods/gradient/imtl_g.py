"""IMTL-G: the combination whose projections onto all unit task gradients are equal."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, normalized_work_gramian
from multitask.methods.base import GradientMethod, register_method


@register_method("imtl_g")
class IMTLG(GradientMethod):
    r"""Impartial Multi-Task Learning, gradient part (IMTL-G).

    Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang. Towards Impartial Multi-task Learning. ICLR 2021.

    Update rule: $d = \sum_t \alpha_t g_t$ with $\sum_t \alpha_t = 1$ and equal projections onto the unit
    gradients $u_t = g_t / \|g_t\|$: $d^\top u_1 = d^\top u_t$ for all $t$. Closed form (paper, eq. 7):

    $$
    \alpha_{2:T} = g_1 U^\top (D U^\top)^{-1}, \qquad \alpha_1 = 1 - \sum_{t=2}^{T} \alpha_t,
    $$

    with rows $D_t = g_1^\top - g_t^\top$ and $U_t = u_1^\top - u_t^\top$.

    Gramian form used here: with $A_{ts} = G_{ts} / \|g_t\|$ (so $(A\alpha)_t = d^\top u_t$), $\alpha$ solves
    the $T \times T$ system $(A_1 - A_t) \alpha = 0$ ($t = 2, \dots, T$), $\mathbf{1}^\top \alpha = 1$ — the
    same equations as the closed form, which needs no $J$. Tasks with an exactly zero gradient have no
    direction to be impartial to: they get weight 0 and the others share ``Σα = 1`` (all zero: uniform
    weights). When the system is singular (collinear or duplicated gradients, where many ``α`` give the same
    ``d``) the minimum-norm solution is taken (pseudo-inverse). The weights may be negative, as in the
    paper.

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
