"""Multi-task feature learning, MTFL (Argyriou, Evgeniou, Pontil): a learned feature covariance."""

from __future__ import annotations

import numpy as np

from multitask.classic._alternating import AlternatingEstimator, BlockSteps, task_grams
from multitask.classic._base import hyperparameters
from multitask.classic._losses import SmoothLoss
from multitask.classic._mixins import MultiTaskRegressorMixin
from multitask.classic._spectral import normalised_gram_sqrt, perturbed_trace_sq

__all__ = ["MTFLRegressor", "mtfl_w_step", "mtfl_d_step", "task_grams"]


def mtfl_w_step(G: np.ndarray, B: np.ndarray, D: np.ndarray, gamma: float) -> np.ndarray:
    """``wₜ = argmin_w ½ wᵀGₜw − bₜᵀw + γ wᵀD⁻¹w`` for every task, computed without inverting D:
    ``wₜ = S (S Gₜ S + 2γI)⁻¹ S bₜ`` with ``S = D^{1/2}`` (valid for singular D as well)."""
    lam, V = np.linalg.eigh(0.5 * (D + D.T))
    S = (V * np.sqrt(np.maximum(lam, 0.0))) @ V.T
    d = D.shape[0]
    A = S @ G @ S + 2.0 * gamma * np.eye(d)  # T x d x d
    rhs = (S @ B).T[:, :, None]  # T x d x 1
    return S @ np.linalg.solve(A, rhs)[:, :, 0].T


def mtfl_d_step(W: np.ndarray, epsilon: float) -> np.ndarray:
    """``D = argmin_{D ≻ 0, tr D ≤ 1} tr(D⁻¹(WWᵀ + εI)) = (WWᵀ + εI)^{1/2} / tr (WWᵀ + εI)^{1/2}``."""
    return normalised_gram_sqrt(W, epsilon)


@hyperparameters
class MTFLRegressor(MultiTaskRegressorMixin, AlternatingEstimator):
    """Multi-task feature learning (convex), least squares.

    Argyriou, Evgeniou, Pontil. Convex multi-task feature learning. Machine Learning 73(3), 2008
    (NeurIPS 2006: "Multi-task feature learning").

    Objective (W is d x T, one column per task; D a d x d feature covariance)::

        min_{W, c, D}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  gamma tr(Wᵀ D⁻¹ W)  +  gamma·epsilon tr(D⁻¹)
        s.t.  D ≻ 0,  tr D ≤ 1

    Minimising over D gives ``gamma (Σᵢ √(σᵢ(W)² + ε))²`` (d singular values, zeros included), so for
    ε → 0 this is the squared-trace-norm problem ``min Σₜ ½‖·‖² + gamma ‖W‖²_*`` (the paper's Theorem:
    learning few features shared by the tasks, a rotation of the ℓ2,1 problem).

    Solvers. ``solver="proximal"`` (default): the objective minimised over D, a least-squares loss plus
    a convex spectral penalty with an exact prox (:mod:`multitask.classic._alternating`), solved by ADMM
    with an exact per-task Gram step (accelerated proximal gradient when the Gram matrices are not
    precomputed) until the certified relative duality gap ``gap_`` is at most ``tol``; then
    D = (WWᵀ + εI)^{1/2} / tr (WWᵀ + εI)^{1/2}. ``solver="alternating"``: the paper's Algorithm 1 (with the
    ε-perturbation that keeps D invertible), from D = I/d (or the D-step of the initial W):

        W-step: wₜ = argmin ½‖yₜ − Xₜw‖² + gamma wᵀD⁻¹w
                   = D^{1/2}(D^{1/2}XₜᵀXₜD^{1/2} + 2 gamma I)⁻¹D^{1/2}Xₜᵀyₜ
        D-step: D = (WWᵀ + εI)^{1/2} / tr (WWᵀ + εI)^{1/2}

    Each step minimises the objective exactly in its block, so the objective never increases; it
    converges to the optimum of the (jointly convex) ε-problem, but slowly once W is nearly low rank with
    ε tiny (on School its gap is still 1e-3 to 1e-2 when the relative objective change stalls).

    The paper's loss is Σ (yᵢ − ŷᵢ)² (no ½): its γ is twice this ``gamma``.

    Args:
        gamma: regularisation strength γ (default 1.0 here; chosen by cross-validation in the paper).
        epsilon: perturbation ε > 0 (default 1e-8 here; the paper lets ε decrease towards 0).
        solver: ``"proximal"`` (default) or ``"alternating"`` (see above).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel` (default ``stop="gap"``: ``gap_`` ≤ ``tol``, the
    relative duality gap of the objective minimised over D). An alternating iteration is one W-step and one
    D-step; ``init="lstsq"`` starts from the per-task least-squares W (and its D).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, n_iter_, gap_,
        objective_path_ (the objective minimised over D: after each alternating or FISTA iteration, at
        each certificate for ADMM),
        D_ (d x d, the learned feature covariance, the D-step of ``coef_``).
    """

    gamma: float = 1.0
    epsilon: float = 1e-8

    _nonneg_params = ("gamma", "epsilon")

    def objective(self, loss_value: float, W: np.ndarray) -> float:
        """The objective minimised over D: ``loss + gamma (Σᵢ √(σᵢ² + ε))²``."""
        sigma = np.linalg.svd(W, compute_uv=False)
        return float(loss_value + self.gamma * perturbed_trace_sq(sigma, self.epsilon, W.shape[0]))

    def _spectral(self, loss: SmoothLoss) -> tuple[float, float, int]:
        return float(self.gamma), 0.0, loss.n_features

    def _block_steps(self, Xs: list[np.ndarray], ys: list[np.ndarray]) -> BlockSteps:
        gamma, eps = float(self.gamma), float(self.epsilon)
        G, B = task_grams(Xs, ys)
        return (lambda W, D: mtfl_w_step(G, B, D, gamma)), (lambda W: mtfl_d_step(W, eps))

    def _store_m(self, W: np.ndarray) -> None:
        self.D_ = mtfl_d_step(W, float(self.epsilon))
