"""Aligned-MTL: align the principal components of the gradient system (condition number 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, normalized_work_gramian
from multitask.methods.base import GradientMethod, register_method

SCALE_MODES = ("min", "median", "rmse")


@register_method("aligned_mtl")
class AlignedMTL(GradientMethod):
    r"""Aligned-MTL: independent component alignment.

    Senushkin, Patakin, Kuznetsov, Konushin. Independent Component Alignment for Multi-Task Learning.
    CVPR 2023.

    Update rule: with the eigendecomposition $G = J J^\top = V \Lambda V^\top$ restricted to its rank $r$
    (eigenvalues above $\lambda_{\max} \cdot T \cdot \epsilon_{\text{dtype}}$), the aligned gradients are
    the rows of $B J$ with

    $$
    B = \sigma V_r \Lambda_r^{-1/2} V_r^\top, \qquad \text{so that} \qquad (BJ)(BJ)^\top = \sigma^2 V_r
    V_r^\top:
    $$

    on their span they are orthogonal with equal norms $\sigma$ — the gradient system's condition number
    becomes 1 (the paper's Procrustes problem $\min \|\hat J - J\|_F$ s.t. $\hat J \hat J^\top = \sigma^2 I$).
    $\sigma$ is $\sqrt{\lambda_{\min}}$ (``scale="min"``, paper default),
    $\sqrt{\operatorname{median}(\lambda)}$ (``"median"``: the lower median, ``torch.median`` as in the
    official code) or $\sqrt{\operatorname{mean}(\lambda)}$ (``"rmse"``). The update sums the aligned
    gradients, $d = \mathbf{1}^\top B J$ (official code and LibMTL; ``reduction="mean"`` divides by $T$),
    i.e. weights $w = B \mathbf{1}$ — everything comes from $G$.

    Hyper-parameters: ``scale`` (``"min"``), ``reduction`` (``"sum"``).
    Modes: parameters, features (features mode is the paper's Aligned-MTL-UB).
    """

    needs = "gramian"

    def __init__(self, scale: str = "min", reduction: str = "sum") -> None:
        super().__init__()
        if scale not in SCALE_MODES:
            raise ValueError(f"AlignedMTL: scale must be one of {SCALE_MODES}, got {scale!r}")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"AlignedMTL: reduction must be 'sum' or 'mean', got {reduction!r}")
        self.scale = scale
        self.reduction = reduction

    def alignment(self, gramian: Tensor) -> Tensor:
        """The ``[T, T]`` matrix ``B`` (aligned gradients ``B J``), in float64 (float32 on MPS)."""
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        work, top = normalized_work_gramian(gramian)  # B does not depend on the scale of G
        if not top > 0:
            return torch.zeros_like(work)
        lam, vec = torch.linalg.eigh(work)
        # the Gramian carries the input dtype's rounding: smaller eigenvalues are numerically zero
        tol = float(lam.max()) * t * torch.finfo(gramian.dtype).eps
        keep = lam > tol
        lam, vec = lam[keep], vec[:, keep]
        if self.scale == "min":
            sigma_sq = lam.min()
        elif self.scale == "median":
            sigma_sq = lam.median()
        else:
            sigma_sq = lam.mean()
        return sigma_sq.sqrt() * (vec * lam.rsqrt()) @ vec.T

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        b = self.alignment(gramian)
        w = b.sum(dim=1)
        if self.reduction == "mean":
            w = w / gramian.shape[0]
        return w.to(gramian.dtype)

    def extra_repr(self) -> str:
        return f"scale={self.scale!r}, reduction={self.reduction!r}"
