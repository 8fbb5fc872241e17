"""Multi-task relationship learning, MTRL (Zhang & Yeung): a learned task covariance."""

from __future__ import annotations

import numpy as np

from multitask.classic._alternating import AlternatingEstimator, BlockSteps, task_grams
from multitask.classic._base import hyperparameters
from multitask.classic._losses import SmoothLoss
from multitask.classic._mixins import MultiTaskRegressorMixin
from multitask.classic._spectral import normalised_gram_sqrt, perturbed_trace_sq

__all__ = ["MTRLRegressor", "mtrl_w_step", "mtrl_omega_step"]


def mtrl_w_step(
    G: np.ndarray, B: np.ndarray, A: np.ndarray, W0: np.ndarray | None = None, *, rtol: float = 1e-12
) -> np.ndarray:
    """Solve ``Gₜwₜ + (W A)[:, t] = bₜ`` for all t — the minimiser of ``Σₜ (½wₜᵀGₜwₜ − bₜᵀwₜ) + ½tr(WAWᵀ)``
    for symmetric positive definite A (T x T) — by preconditioned conjugate gradient on the d x T matrix W
    (warm start ``W0``). The preconditioner replaces each Gₜ by ``sₜḠ`` (sₜ = tr Gₜ, Ḡ = ΣGₜ/Σsₜ) and
    solves the resulting Sylvester equation ``ḠWS + WA = R`` exactly by two eigendecompositions."""
    T, d = G.shape[0], G.shape[1]

    def apply(W: np.ndarray) -> np.ndarray:
        return np.matmul(G, W.T[:, :, None])[:, :, 0].T + W @ A

    scale = np.trace(G, axis1=1, axis2=2)
    scale = np.maximum(scale, 1e-12 * max(float(scale.max()), 1e-300))
    lam, U = np.linalg.eigh(G.sum(axis=0) / scale.sum())
    root = np.sqrt(scale)
    mu, Q = np.linalg.eigh(A / np.outer(root, root))
    denom = np.maximum(lam, 0.0)[:, None] + mu[None, :]

    def precond(R: np.ndarray) -> np.ndarray:
        return (U @ ((U.T @ (R / root) @ Q) / denom) @ Q.T) / root

    W = np.zeros((d, T)) if W0 is None else np.array(W0, dtype=float)
    R = B - apply(W)
    Z = precond(R)
    P = Z.copy()
    rz = float(np.sum(R * Z))
    bnorm = max(float(np.linalg.norm(B)), 1e-300)
    for _ in range(max(10, 2 * d * T)):
        if float(np.linalg.norm(R)) <= rtol * bnorm:
            break
        AP = apply(P)
        alpha = rz / float(np.sum(P * AP))
        W = W + alpha * P
        R = R - alpha * AP
        Z = precond(R)
        rz_new = float(np.sum(R * Z))
        P = Z + (rz_new / rz) * P
        rz = rz_new
    return W


def mtrl_omega_step(W: np.ndarray, epsilon: float) -> np.ndarray:
    """``Ω = argmin_{Ω ≻ 0, tr Ω = 1} tr(Ω⁻¹(WᵀW + εI)) = (WᵀW + εI)^{1/2} / tr (WᵀW + εI)^{1/2}``."""
    return normalised_gram_sqrt(W.T, epsilon)


@hyperparameters
class MTRLRegressor(MultiTaskRegressorMixin, AlternatingEstimator):
    """Multi-task relationship learning (learned task covariance), least squares.

    Zhang & Yeung. A convex formulation for learning task relationships in multi-task learning. UAI 2010.

    Objective (W is d x T, one column per task; Ω the T x T task covariance)::

        min_{W, c, Ω}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  (lambda1/2) ‖W‖²_F  +  (lambda2/2) tr(W Ω⁻¹ Wᵀ)
                       +  (lambda2/2)·epsilon tr(Ω⁻¹)
        s.t.  Ω ≻ 0,  tr Ω = 1

    Ω models positive, negative and zero task correlations. The problem is jointly convex; minimising
    over Ω gives ``(lambda2/2)(Σᵢ √(σᵢ(W)² + ε))²`` (T singular values), a squared trace norm for ε → 0.

    Solvers. ``solver="proximal"`` (default): the objective minimised over Ω, a least-squares loss plus
    a convex spectral penalty with an exact prox (:mod:`multitask.classic._alternating`), solved by ADMM
    with an exact per-task Gram step (accelerated proximal gradient when the Gram matrices are not
    precomputed) until the certified relative duality gap ``gap_`` is at most ``tol``; then Ω is the
    Ω-step below. ``solver="alternating"``: the paper's alternating minimisation, from Ω = I/T (or the
    Ω-step of the initial W):

        W-step: solve  XₜᵀXₜwₜ + [W (lambda1 I + lambda2 Ω⁻¹)]ₜ = Xₜᵀyₜ
                (all tasks coupled; preconditioned conjugate gradient)
        Ω-step: Ω = (WᵀW + εI)^{1/2} / tr (WᵀW + εI)^{1/2}

    Each step is an exact block minimisation, so the objective never increases, but with ε tiny it
    creeps once W is nearly low rank. ε > 0 keeps Ω invertible.

    Scaling: the paper's loss is Σₜ (1/nₜ) Σᵢ (yₜᵢ − ŷₜᵢ)²; here it is MALSAR's Σₜ ½‖·‖² (a sum). With nₜ = n
    for every task, the paper's (λ₁, λ₂) correspond to ``lambda1 = n λ₁ / 2``, ``lambda2 = n λ₂ / 2``.

    Args:
        lambda1: ridge strength λ₁ (default 1.0 here; chosen by cross-validation in the paper).
        lambda2: task-relationship strength λ₂ (default 1.0 here).
        epsilon: perturbation ε > 0 (default 1e-8).
        solver: ``"proximal"`` (default) or ``"alternating"`` (see above).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel` (default ``stop="gap"``: ``gap_`` ≤ ``tol``, the
    relative duality gap of the objective minimised over Ω). An alternating iteration is a W-step followed by
    an Ω-step; ``init="lstsq"`` starts from the per-task least-squares W.

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, n_iter_, gap_,
        objective_path_ (the objective minimised over Ω: after each alternating or FISTA iteration, at
        each certificate for ADMM),
        Omega_ (T x T, the learned task covariance, the Ω-step of ``coef_``),
        task_correlation_ (T x T, Ω_ rescaled to unit diagonal).
    """

    lambda1: float = 1.0
    lambda2: float = 1.0
    epsilon: float = 1e-8

    _nonneg_params = ("lambda1", "lambda2", "epsilon")

    def objective(self, loss_value: float, W: np.ndarray) -> float:
        """The objective minimised over Ω: ``loss + (λ₁/2)‖W‖²_F + (λ₂/2)(Σᵢ √(σᵢ² + ε))²``."""
        sigma = np.linalg.svd(W, compute_uv=False)
        reg = 0.5 * self.lambda1 * float(np.sum(W * W))
        coupling = 0.5 * self.lambda2 * perturbed_trace_sq(sigma, self.epsilon, W.shape[1])
        return float(loss_value + reg + coupling)

    def _spectral(self, loss: SmoothLoss) -> tuple[float, float, int]:
        return 0.5 * float(self.lambda2), float(self.lambda1), loss.n_tasks

    def _block_steps(self, Xs: list[np.ndarray], ys: list[np.ndarray]) -> BlockSteps:
        lam1, lam2, eps = float(self.lambda1), float(self.lambda2), float(self.epsilon)
        G, B = task_grams(Xs, ys)
        T = len(Xs)

        def w_step(W_old: np.ndarray, Omega: np.ndarray) -> np.ndarray:
            ev, V = np.linalg.eigh(Omega)
            return mtrl_w_step(G, B, lam1 * np.eye(T) + lam2 * (V / ev) @ V.T, W_old)

        return w_step, (lambda W: mtrl_omega_step(W, eps))

    def _store_m(self, W: np.ndarray) -> None:
        self.Omega_ = mtrl_omega_step(W, float(self.epsilon))
        sd = np.sqrt(np.diag(self.Omega_))
        self.task_correlation_ = self.Omega_ / np.outer(sd, sd)
