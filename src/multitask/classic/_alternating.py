"""The alternating-minimisation estimator base (MTFL, MTRL): exact block steps on W and a matrix M.

Argyriou, Evgeniou, Pontil. Convex multi-task feature learning. Machine Learning 73(3), 2008 (M = the
feature covariance D); Zhang & Yeung. A convex formulation for learning task relationships in multi-task
learning. UAI 2010 (M = the task covariance Ω). Each iteration is ``W = w_step(W, M)`` then
``M = m_step(W)``; both minimise the jointly convex objective exactly in their block, so the objective
never increases. The estimator's ``stop`` / ``tol`` / ``max_iter`` apply as for FISTA
(:func:`~multitask.classic._fista.stop_rule_met`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from multitask.classic._base import MultiTaskLinearModel, hyperparameters
from multitask.classic._fista import stop_rule_met

__all__ = ["AlternatingEstimator", "task_grams"]


def task_grams(Xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-task Gram matrices ``Gₜ = XₜᵀXₜ`` (T x d x d) and ``bₜ = Xₜᵀyₜ`` (d x T)."""
    G = np.stack([X.T @ X for X in Xs])
    B = np.stack([X.T @ y for X, y in zip(Xs, ys)], axis=1)
    return G, B


@hyperparameters
class AlternatingEstimator(MultiTaskLinearModel):
    """Runs the alternating scheme of the module docstring with :meth:`_alternate`; ``epsilon`` > 0 is
    the perturbation that keeps M invertible (a hyper-parameter of both MTFL and MTRL)."""

    def _validate_params_extra(self) -> None:
        super()._validate_params_extra()
        if self.epsilon <= 0:
            raise ValueError(f"{type(self).__name__}: epsilon must be > 0, got {self.epsilon!r}")

    def _alternate(
        self,
        W0: np.ndarray,
        M0: np.ndarray,
        w_step: Callable[[np.ndarray, np.ndarray], np.ndarray],
        m_step: Callable[[np.ndarray], np.ndarray],
        objective: Callable[[np.ndarray], float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Alternate from (W0, M0) until the ``stop`` rule holds or ``max_iter`` iterations ran; set
        ``objective_path_`` (``objective(W)`` after each iteration) and ``n_iter_``; return (W, M)."""
        if self.stop == "gap":
            raise ValueError(f"{type(self).__name__}: stop='gap' is not available (alternating minimisation)")
        W, M = W0, M0
        path: list[float] = []
        n_iter = 0
        for n_iter in range(1, int(self.max_iter) + 1):  # noqa: B007 - n_iter is kept
            W_old = W
            W = w_step(W_old, M)
            M = m_step(W)
            path.append(objective(W))
            if self.verbose:
                print(f"{type(self).__name__} iter {n_iter:5d}  objective {path[-1]:.10g}")
            step, old = float(np.linalg.norm(W - W_old)), float(np.linalg.norm(W_old))
            if stop_rule_met(self.stop, float(self.tol), path, step, old):
                break
        self.objective_path_ = np.asarray(path)
        self.n_iter_ = n_iter
        self.gap_ = np.nan  # no duality gap for this scheme
        return W, M
