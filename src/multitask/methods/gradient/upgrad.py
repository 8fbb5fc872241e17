"""UPGrad: average of every task gradient projected onto the dual cone of all of them."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_dtype
from multitask.core.solvers import dual_cone_weights
from multitask.methods.base import GradientMethod, register_method

__all__ = ["UPGrad"]


@register_method("upgrad")
class UPGrad(GradientMethod):
    r"""Unconflicting Projection of Gradients (UPGrad).

    Quinton & Rey. Jacobian Descent for Multi-Objective Optimization. arXiv:2406.16232, 2024.

    Update rule:

    $$
    d = \frac1T \sum_i \pi_J(g_i)
    $$

    where $\pi_J$ is the Euclidean projection onto the dual cone $\{x : J x \ge 0\}$ of the task gradients
    (paper eq. 3; general form $d = \sum_i p_i \pi_J(g_i)$ with a preference vector $p$, uniform by
    default). By Proposition 1, $\pi_J(J^\top u) = J^\top v$ with $v = \arg\min_{v \ge u} v^\top G v$, so
    $w = \sum_i v^{(i)}$ with $u^{(i)} = p_i e_i$: a Gramian-only method
    (:func:`~multitask.core.solvers.dual_cone_weights`, exact active-set solver in torch instead of
    torchjd's quadprog call).
    Properties (paper, Section 2): the update never conflicts with a task ($J d \ge 0$), it is
    scale-equivariant ($d(sJ) = s \, d(J)$), weighted by $w \ge p$ and invariant to task permutations.

    Args:
        pref_vector: preference ``p`` (``[T]``, non-negative) or ``None`` for ``1/T`` (paper default).
        reg_eps: ridge added to the trace-normalised Gramian (torchjd's default 1e-4 makes its QP
            solver happy; the active-set solver here needs none, so the default 0 projects exactly).
        tol: solver tolerance in trace-normalised units.
    Modes: parameters, features.
    """

    needs = "gramian"

    def __init__(self, pref_vector: Tensor | None = None, reg_eps: float = 0.0, tol: float = 1e-12) -> None:
        super().__init__()
        self.pref_vector = _check_pref(pref_vector, type(self).__name__)
        if not (math.isfinite(reg_eps) and reg_eps >= 0):
            raise ValueError(f"{type(self).__name__}: reg_eps must be a finite number >= 0, got {reg_eps!r}")
        if not tol > 0:
            raise ValueError(f"{type(self).__name__}: tol must be > 0, got {tol!r}")
        self.reg_eps = float(reg_eps)
        self.tol = float(tol)

    def preference(self, t: int, like: Tensor) -> Tensor:
        """The preference vector for ``t`` tasks (uniform ``1/T`` when none was given)."""
        dtype = work_dtype(like.device)
        if self.pref_vector is None:
            return torch.full((t,), 1.0 / t, dtype=dtype, device=like.device)
        if self.pref_vector.shape != (t,):
            raise ValueError(
                f"{type(self).__name__}: pref_vector has {self.pref_vector.numel()} entries for {t} tasks"
            )
        return self.pref_vector.to(dtype=dtype, device=like.device)

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        p = self.preference(gramian.shape[0], gramian)
        v = dual_cone_weights(gramian, torch.diag(p), reg_eps=self.reg_eps, tol=self.tol)
        return v.sum(dim=0).to(gramian.dtype)

    def extra_repr(self) -> str:
        pref = None if self.pref_vector is None else self.pref_vector.tolist()
        return f"pref_vector={pref}, reg_eps={self.reg_eps}"


def _check_pref(pref: Tensor | None, who: str) -> Tensor | None:
    if pref is None:
        return None
    p = torch.as_tensor(pref, dtype=torch.float64).detach().flatten()
    if p.numel() < 1 or not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError(f"{who}: pref_vector must be finite and non-negative, got {p.tolist()}")
    return p
