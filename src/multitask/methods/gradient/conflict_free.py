"""ConFIG: the conflict-free direction with equal cosine to every task gradient."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, normalized_work_gramian
from multitask.methods.base import GradientMethod, register_method


@register_method("config")
class ConFIG(GradientMethod):
    r"""Conflict-Free Inverse Gradients (ConFIG).

    Liu, Chu, Thuerey. ConFIG: Towards Conflict-free Training of Physics Informed Neural Networks.
    ICLR 2025.

    Update rule: with unit gradients $\hat u_i = g_i / \|g_i\|$ stacked as $\hat U$,

    $$
    g_u = \hat U^{+} \mathbf{1}, \qquad d = \Big(\sum_i g_i^\top \hat g_u\Big) \hat g_u, \qquad
    \hat g_u = \frac{g_u}{\|g_u\|}
    $$

    (paper eq. 2 with equal weights and the official code's ``ProjectionLength``). When the gradients
    are linearly independent $\hat U g_u = \mathbf{1}$: $d$ has the same positive cosine with every task
    gradient, so it conflicts with none. Gramian form ($\hat U^{+} = \hat U^\top (\hat U \hat U^\top)^{+}$):
    with $D = \operatorname{diag}(G)$ and the cosine matrix $C = D^{-1/2} G D^{-1/2}$, $g_u = J^\top a$,
    $a = D^{-1/2} C^{+} \mathbf{1}$, $\|g_u\|^2 = a^\top G a$ and $\sum_i g_i^\top g_u = \mathbf{1}^\top G a$;
    so $w = (\mathbf{1}^\top G a / a^\top G a) \, a$ and the engine never needs $J$. Tasks with a zero
    gradient have no direction (the official code zeroes their unit vector): they get weight 0.
    The pseudo-inverse drops singular values below ``100·T·eps(dtype)`` of the largest (collinear or
    duplicated gradients, whose cosine matrix is singular only up to rounding). The paper's momentum
    variant (M-ConFIG) is not included.

    Hyper-parameters: none.
    Modes: parameters, features.
    """

    needs = "gramian"

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        work, top = normalized_work_gramian(gramian)
        out = torch.zeros(t, dtype=work.dtype, device=work.device)
        if not top > 0:
            return out.to(gramian.dtype)
        diag = work.diagonal().clamp_min(0.0)
        active = (diag > 0).nonzero().flatten()
        sub = work.index_select(0, active).index_select(1, active)
        inv_norm = diag[active].rsqrt()
        cos = sub * inv_norm[:, None] * inv_norm[None, :]
        rtol = 100.0 * torch.finfo(gramian.dtype).eps * t
        a = torch.zeros_like(out)
        a[active] = inv_norm * (torch.linalg.pinv(cos, rtol=rtol, hermitian=True) @ torch.ones_like(inv_norm))
        norm_sq = float(a @ work @ a)
        if not norm_sq > 1e-30:  # g_u = 0 (e.g. exactly opposite gradients): no direction
            return out.to(gramian.dtype)
        length = float(work.sum(dim=0) @ a)  # Σᵢ gᵢᵀ g_u
        # back to the caller's scale: G = top · work, so the weights scale as 1 (a·√top cancels)
        return (a * (length / norm_sq)).to(gramian.dtype)
