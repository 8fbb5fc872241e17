"""DualProj: the mean gradient projected onto the dual cone of the task gradients."""

from __future__ import annotations

from torch import Tensor

from multitask.core.gramian import check_gramian
from multitask.core.solvers import dual_cone_weights
from multitask.methods.base import register_method
from multitask.methods.gradient.upgrad import UPGrad


@register_method("dualproj")
class DualProj(UPGrad):
    r"""DualProj: projection of the averaged gradient onto the dual cone.

    Quinton & Rey. Jacobian Descent for Multi-Objective Optimization. arXiv:2406.16232, 2024 (after the
    projection used by GEM, Lopez-Paz & Ranzato, NeurIPS 2017).

    Update rule: $d = \pi_J\big(\sum_i p_i g_i\big)$, the Euclidean projection of the (preference-weighted,
    by default mean) gradient onto the dual cone $\{x : J x \ge 0\}$. With Proposition 1 of the paper,

    $$
    d = J^\top v, \qquad v = \arg\min_{v \ge p} v^\top G v
    $$

    (:func:`~multitask.core.solvers.dual_cone_weights`, exact active-set solver in torch). The update never
    conflicts with a task ($J d \ge 0$) and equals the mean gradient whenever that one conflicts with none.

    Args:
        pref_vector: ``p`` (``[T]``, non-negative) or ``None`` for ``1/T`` (paper default).
        reg_eps: ridge on the trace-normalised Gramian (0 = exact projection; torchjd uses 1e-4).
        tol: solver tolerance in trace-normalised units.
    Modes: parameters, features.
    """

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        p = self.preference(gramian.shape[0], gramian)
        v = dual_cone_weights(gramian, p, reg_eps=self.reg_eps, tol=self.tol)
        return v.to(gramian.dtype)
