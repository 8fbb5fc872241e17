"""The alternating-minimisation estimator base (MTFL, MTRL): exact block steps on W and a matrix M.

Argyriou, Evgeniou, Pontil. Convex multi-task feature learning. Machine Learning 73(3), 2008 (M = the
feature covariance D); Zhang & Yeung. A convex formulation for learning task relationships in multi-task
learning. UAI 2010 (M = the task covariance Ω). Each iteration is ``W = w_step(W, M)`` then
``M = m_step(W)``; both minimise the jointly convex objective exactly in their block, so the objective
never increases. The estimator's ``stop`` / ``tol`` / ``max_iter`` apply as for FISTA
(:func:`~multitask.classic._fista.stop_rule_met`); under ``stop="gap"`` the fit stops when the relative
duality gap of the objective minimised over M (:func:`alternating_gap`) is at most ``tol``.

Duality gap. Minimised over M, both objectives are ``P(W) = f(W) + h(W)`` with f the centred least squares
and h a spectral function, ``h(W) = φ(σ(W))``, ``φ(x) = (lam1/2)Σxᵢ² + γ(Σᵢ √(xᵢ² + ε))²`` over q singular
values (MTFL: γ = gamma, lam1 = 0, q = d; MTRL: γ = lambda2/2, lam1 = lambda1, q = T). With the
residual r = XW − Y as the dual point (feasible: h* is finite everywhere) and G = Xᵀr the gradient of f,
Fenchel's dual value is ``D = −½‖r‖² − ⟨r, Y⟩ − h*(−G)``, so ``P − D = ⟨G, W⟩ + h(W) + h*(−G)`` (≥ 0 by
Fenchel–Young, 0 at the solution), where ``h*(−G) = φ*(σ(G))`` (Lewis 1995) is bounded above by
:func:`~multitask.classic._spectral.spectral_conjugate_bound`: the reported gap is a proven upper bound of
the relative suboptimality (P(W) − P*)/P(W) of the ε-problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from multitask.classic._base import MultiTaskLinearModel, hyperparameters
from multitask.classic._fista import stop_rule_met
from multitask.classic._losses import LeastSquaresLoss
from multitask.classic._spectral import perturbed_trace_sq, spectral_conjugate_bound

__all__ = ["AlternatingEstimator", "task_grams", "alternating_gap"]


def alternating_gap(
    loss: LeastSquaresLoss, gamma: float, eps: float, q: int, lam1: float = 0.0
) -> Callable[[np.ndarray], float]:
    """``W ↦ (P(W) − D)/P(W)``, the relative duality gap of the module docstring; the returned function
    keeps P(W) of its last call as its attribute ``primal``."""

    def gap(W: np.ndarray) -> float:
        f, (G, _) = loss(W, None)
        s = np.linalg.svd(W, compute_uv=False)
        h = 0.5 * lam1 * float(np.sum(s * s)) + gamma * perturbed_trace_sq(s, eps, q)
        conj = spectral_conjugate_bound(np.linalg.svd(G, compute_uv=False), s, gamma, eps, q, lam1)
        primal = f + h
        gap.primal = primal  # type: ignore[attr-defined]
        return max(float(np.sum(G * W)) + h + conj, 0.0) / max(primal, np.finfo(float).tiny)

    return gap


def task_grams(Xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-task Gram matrices ``Gₜ = XₜᵀXₜ`` (T x d x d) and ``bₜ = Xₜᵀyₜ`` (d x T)."""
    G = np.stack([X.T @ X for X in Xs])
    B = np.stack([X.T @ y for X, y in zip(Xs, ys)], axis=1)
    return G, B


@hyperparameters
class AlternatingEstimator(MultiTaskLinearModel):
    """Runs the alternating scheme of the module docstring with :meth:`_alternate`; ``epsilon`` > 0 is
    the perturbation that keeps M invertible (a hyper-parameter of both MTFL and MTRL). The default
    stopping rule stays MALSAR's relative objective change: with ε tiny (the default 1e-8) the scheme
    creeps once W is nearly low rank (on School the gap is still 1e-3 to 1e-1 after 5000 iterations), so
    ``stop="gap"`` would rarely stop; ``gap_`` is reported either way."""

    stop: str = dataclasses.field(default="rel_change", kw_only=True)

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
        gap: Callable[[np.ndarray], float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Alternate from (W0, M0) until the ``stop`` rule holds (``gap(W) ≤ tol`` under ``"gap"``) or
        ``max_iter`` iterations ran; set ``objective_path_`` (``objective(W)`` after each iteration),
        ``n_iter_`` and ``gap_``; return (W, M)."""
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
            if self.stop == "gap":
                if gap(W) <= self.tol:
                    break
                continue
            step, old = float(np.linalg.norm(W - W_old)), float(np.linalg.norm(W_old))
            if stop_rule_met(self.stop, float(self.tol), path, step, old):
                break
        self.objective_path_ = np.asarray(path)
        self.n_iter_ = n_iter
        self.gap_ = float(gap(W))
        return W, M
