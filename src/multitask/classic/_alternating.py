"""The MTFL / MTRL estimator base: the objective minimised over the matrix M, solved to a certified gap.

Argyriou, Evgeniou, Pontil. Convex multi-task feature learning. Machine Learning 73(3), 2008 (M = the
feature covariance D); Zhang & Yeung. A convex formulation for learning task relationships in multi-task
learning. UAI 2010 (M = the task covariance Ω). Both objectives are jointly convex in (W, M), and the
minimum over M has a closed form (:func:`~multitask.classic._spectral.normalised_sqrt`), so they equal

    P(W) = f(W) + h(W),   h(W) = φ(σ(W)),   φ(x) = (lam1/2)Σxᵢ² + γ(Σᵢ √(xᵢ² + ε))²

over q singular values (MTFL: γ = gamma, lam1 = 0, q = d; MTRL: γ = lambda2/2, lam1 = lambda1, q = T),
f the centred least squares. h is convex and unitarily invariant, with an exact prox
(:func:`~multitask.classic._spectral.spectral_sq_prox`), so ``solver="proximal"`` (the default) runs the
library's certified composite solvers on f + h
(:class:`~multitask.classic._prox_gradient.ProxGradientEstimator`: ADMM with an exact per-task Gram step
where the Gram matrices are precomputed, accelerated proximal gradient (FISTA with restart and
backtracking) otherwise) and stops on the relative duality gap below;
M is then the M-step of the solution. ``solver="alternating"`` runs the papers' Algorithm 1 instead:
``W = w_step(W, M)`` then ``M = m_step(W)``, exact block minimisations, so the objective never
increases; with ε tiny (the default 1e-8) it creeps once W is nearly low rank (on School its gap is
still 1e-3 to 1e-1 after thousands of iterations). The ``stop`` / ``tol`` / ``max_iter`` rules apply to
both (:func:`~multitask.classic._fista.stop_rule_met`; under ``stop="gap"``, the default, the fit stops
when the relative gap (:func:`alternating_gap`) is at most ``tol``).

Duality gap. With the residual r = XW − Y as the dual point (feasible: h* is finite everywhere) and
G = Xᵀr the gradient of f, Fenchel's dual value is ``D = −½‖r‖² − ⟨r, Y⟩ − h*(−G)``, so
``P − D = ⟨G, W⟩ + h(W) + h*(−G)`` (≥ 0 by Fenchel–Young, 0 at the solution), where ``h*(−G) = φ*(σ(G))``
(Lewis 1995) is bounded above by :func:`~multitask.classic._spectral.spectral_conjugate_bound`: the
reported gap is a proven upper bound of the relative suboptimality (P(W) − P*)/P(W) of the ε-problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from multitask.classic._base import hyperparameters
from multitask.classic._fista import stop_rule_met
from multitask.classic._losses import LeastSquaresLoss, SmoothLoss, relative_gap
from multitask.classic._prox_gradient import Composite, ProxGradientEstimator
from multitask.classic._spectral import perturbed_trace_sq, spectral_conjugate_bound, spectral_sq_prox

__all__ = [
    "AlternatingEstimator", "BlockSteps", "SOLVERS", "task_grams", "alternating_gap", "spectral_penalty",
]


def spectral_penalty(W: np.ndarray, gamma: float, eps: float, q: int, lam1: float = 0.0) -> float:
    """``h(W) = φ(σ(W))`` of the module docstring."""
    s = np.linalg.svd(W, compute_uv=False)
    return 0.5 * lam1 * float(np.sum(s * s)) + gamma * perturbed_trace_sq(s, eps, q)


def alternating_gap(
    loss: LeastSquaresLoss, gamma: float, eps: float, q: int, lam1: float = 0.0
) -> Callable[[np.ndarray], float]:
    """``W ↦ (P(W) − D)/P(W)``, the relative duality gap of the module docstring; the returned function
    keeps P(W) of its last call as its attribute ``primal``."""

    def gap(W: np.ndarray) -> float:
        f, (G, _) = loss(W, None)
        s = np.linalg.svd(W, compute_uv=False)
        h = 0.5 * lam1 * float(np.sum(s * s)) + gamma * perturbed_trace_sq(s, eps, q)  # spectral_penalty
        conj = spectral_conjugate_bound(np.linalg.svd(G, compute_uv=False), s, gamma, eps, q, lam1)
        primal = f + h
        gap.primal = primal  # type: ignore[attr-defined]
        return relative_gap(float(np.sum(G * W)) + h + conj, primal, 0.5 * float(loss.yy.sum()))

    return gap


def task_grams(Xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-task Gram matrices ``Gₜ = XₜᵀXₜ`` (T x d x d) and ``bₜ = Xₜᵀyₜ`` (d x T)."""
    G = np.stack([X.T @ X for X in Xs])
    B = np.stack([X.T @ y for X, y in zip(Xs, ys)], axis=1)
    return G, B


SOLVERS = ("proximal", "alternating")
BlockSteps = tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


@hyperparameters
class AlternatingEstimator(ProxGradientEstimator):
    """The estimator of the module docstring. A subclass gives the penalty's (γ, lam1, q) in
    :meth:`_spectral`, the papers' block steps in :meth:`_block_steps` and stores M in :meth:`_store_m`;
    ``epsilon`` > 0 is the perturbation that keeps M invertible (a hyper-parameter of both MTFL and MTRL).

    Args:
        solver: ``"proximal"`` (default): the certified composite solvers on the objective minimised over
            M; ``"alternating"``: the papers' alternating block minimisation (module docstring).
    """

    solver: str = dataclasses.field(default="proximal", kw_only=True)

    _admm = True  # ADMM's exact Gram step where the Gram matrices are precomputed (School: d = 28)

    # ------------------------------------------------------------------ hooks of MTFL / MTRL
    def _spectral(self, loss: SmoothLoss) -> tuple[float, float, int]:
        """(γ, lam1, q) of φ in the module docstring."""
        raise NotImplementedError

    def _block_steps(self, Xs: list[np.ndarray], ys: list[np.ndarray]) -> BlockSteps:
        """The papers' ``(w_step(W, M), m_step(W))``."""
        raise NotImplementedError

    def _store_m(self, W: np.ndarray) -> None:
        """Store the M-step of the solution W (``D_`` / ``Omega_``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fit
    def _validate_params_extra(self) -> None:
        super()._validate_params_extra()
        name = type(self).__name__
        if self.epsilon <= 0:
            raise ValueError(f"{name}: epsilon must be > 0, got {self.epsilon!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"{name}: solver must be one of {SOLVERS}, got {self.solver!r}")

    def _problem(self, loss: SmoothLoss) -> Composite:
        """f + h of the module docstring: h's spectral prox, its value and the certified gap."""
        gamma, lam1, q = self._spectral(loss)
        eps = float(self.epsilon)
        certificate = alternating_gap(loss, gamma, eps, q, lam1)

        def prox(parts: tuple[np.ndarray, ...], step: float | tuple) -> tuple[np.ndarray, ...]:
            t = float(step[0] if isinstance(step, tuple) else step)
            return (spectral_sq_prox(parts[0], t, gamma, eps, q, lam1),)

        def penalty(parts: tuple[np.ndarray, ...]) -> float:
            return spectral_penalty(parts[0], gamma, eps, q, lam1)

        def gap(parts: tuple[np.ndarray, ...], c: np.ndarray) -> float:
            value = certificate(parts[0])
            gap.primal = certificate.primal  # type: ignore[attr-defined]
            return value

        return Composite(loss, prox, penalty, on_solution=self._store_m, gap=gap, rows=(False,))

    def _fit_coef(
        self, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.solver == "proximal":
            return super()._fit_coef(Xs, ys, loss)
        gamma, lam1, q = self._spectral(loss)
        w_step, m_step = self._block_steps(Xs, ys)
        W0, _ = self._initial_coef(Xs, ys, loss)
        eps = float(self.epsilon)
        W = self._alternate(
            W0,
            m_step(W0),
            w_step,
            m_step,
            lambda W: loss.value(W) + spectral_penalty(W, gamma, eps, q, lam1),
            alternating_gap(loss, gamma, eps, q, lam1),
        )
        self._store_m(W)
        self._parts_ = (W.copy(),)
        return W, np.zeros(loss.n_tasks)

    def _alternate(
        self,
        W0: np.ndarray,
        M0: np.ndarray,
        w_step: Callable[[np.ndarray, np.ndarray], np.ndarray],
        m_step: Callable[[np.ndarray], np.ndarray],
        objective: Callable[[np.ndarray], float],
        gap: Callable[[np.ndarray], float],
    ) -> np.ndarray:
        """Alternate from (W0, M0) until the ``stop`` rule holds (``gap(W) ≤ tol`` under ``"gap"``) or
        ``max_iter`` iterations ran; set ``objective_path_`` (``objective(W)`` after each iteration),
        ``n_iter_`` and ``gap_``; return W."""
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
        return W
