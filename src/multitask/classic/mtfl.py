"""Multi-task feature learning by alternating minimisation (Argyriou, Evgeniou, Pontil)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from multitask.classic._base import MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._spectral import normalised_sqrt, perturbed_trace_sq

__all__ = [
    "MTFLRegressor",
    "mtfl_w_step",
    "mtfl_d_step",
    "task_grams",
    "alternating_should_stop",
    "alternating_minimise",
]


def task_grams(Xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-task Gram matrices ``Gₜ = XₜᵀXₜ`` (T x d x d) and ``bₜ = Xₜᵀyₜ`` (d x T)."""
    G = np.stack([X.T @ X for X in Xs])
    B = np.stack([X.T @ y for X, y in zip(Xs, ys)], axis=1)
    return G, B


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
    return normalised_sqrt(W @ W.T, epsilon)[0]


def alternating_should_stop(
    est: MultiTaskRegressorBase, path: list[float], W: np.ndarray, W_old: np.ndarray
) -> bool:
    """The estimator's ``stop`` rule applied to an alternating scheme (needs two objective values)."""
    if len(path) < 2:
        return False
    if est.stop == "rel_change":
        return abs(path[-1] - path[-2]) <= est.tol * abs(path[-2])
    if est.stop == "obj_change":
        return abs(path[-1] - path[-2]) <= est.tol
    return float(np.linalg.norm(W - W_old)) <= est.tol * max(1.0, float(np.linalg.norm(W_old)))


def alternating_minimise(
    est: MultiTaskRegressorBase,
    W0: np.ndarray,
    M0: np.ndarray,
    w_step: Callable[[np.ndarray, np.ndarray], np.ndarray],
    m_step: Callable[[np.ndarray], np.ndarray],
    objective: Callable[[np.ndarray], float],
    label: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Alternate ``W = w_step(W, M)`` and ``M = m_step(W)`` from (W0, M0) until the estimator's ``stop``
    rule holds or ``max_iter`` iterations ran; set ``objective_path_`` (``objective(W)`` after each
    iteration) and ``n_iter_`` on ``est`` and return the last (W, M). ``label`` prefixes verbose output."""
    W, M = W0, M0
    path: list[float] = []
    n_iter = 0
    for n_iter in range(1, int(est.max_iter) + 1):  # noqa: B007 - n_iter is kept
        W_old = W
        W = w_step(W_old, M)
        M = m_step(W)
        path.append(objective(W))
        if est.verbose:
            print(f"{label} iter {n_iter:5d}  objective {path[-1]:.10g}")
        if alternating_should_stop(est, path, W, W_old):
            break
    est.objective_path_ = np.asarray(path)
    est.n_iter_ = n_iter
    return W, M


class MTFLRegressor(MultiTaskRegressorBase):
    """Multi-task feature learning (convex, alternating minimisation), least squares.

    Argyriou, Evgeniou, Pontil. Convex multi-task feature learning. Machine Learning 73(3), 2008
    (NeurIPS 2006: "Multi-task feature learning").

    Objective (W is d x T, one column per task; D a d x d feature covariance)::

        min_{W, c, D}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  gamma tr(Wᵀ D⁻¹ W)  +  gamma·epsilon tr(D⁻¹)
        s.t.  D ≻ 0,  tr D ≤ 1

    Minimising over D gives ``gamma (Σᵢ √(σᵢ(W)² + ε))²`` (d singular values, zeros included), so for
    ε → 0 this is the squared-trace-norm problem ``min Σₜ ½‖·‖² + gamma ‖W‖²_*`` (the paper's Theorem:
    learning few features shared by the tasks, a rotation of the ℓ2,1 problem). Algorithm (paper's
    Algorithm 1, with the ε-perturbation that keeps D invertible), starting from D = I/d:

        W-step: wₜ = argmin ½‖yₜ − Xₜw‖² + gamma wᵀD⁻¹w
                   = D^{1/2}(D^{1/2}XₜᵀXₜD^{1/2} + 2 gamma I)⁻¹D^{1/2}Xₜᵀyₜ
        D-step: D = (WWᵀ + εI)^{1/2} / tr (WWᵀ + εI)^{1/2}

    Each step minimises the objective exactly in its block, so the objective never increases; it
    converges to the optimum of the (jointly convex) ε-problem.

    The paper's loss is Σ (yᵢ − ŷᵢ)² (no ½): its γ is twice this ``gamma``.

    Args:
        gamma: regularisation strength γ (default 1.0 here; chosen by cross-validation in the paper).
        epsilon: perturbation ε > 0 (default 1e-8 here; the paper lets ε decrease towards 0).
        fit_intercept, max_iter, tol, stop, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel`; one iteration = one W-step + one D-step
            (defaults: max_iter 1000, tol 1e-4 on the relative objective change). ``init="lstsq"``
            starts from D of the per-task least-squares W instead of I/d.

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, n_iter_,
        objective_path_ (the objective after each iteration, non-increasing),
        D_ (d x d, the learned feature covariance, the D-step of ``coef_``).
    """

    def __init__(
        self,
        gamma: float = 1.0,
        epsilon: float = 1e-8,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        self.gamma = gamma
        self.epsilon = epsilon
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(gamma=self.gamma, epsilon=self.epsilon)
        if self.epsilon <= 0:
            raise ValueError(f"{type(self).__name__}: epsilon must be > 0, got {self.epsilon!r}")

    def objective(self, loss_value: float, W: np.ndarray) -> float:
        """The objective minimised over D: ``loss + gamma (Σᵢ √(σᵢ² + ε))²``."""
        sigma = np.linalg.svd(W, compute_uv=False)
        return float(loss_value + self.gamma * perturbed_trace_sq(sigma, self.epsilon, W.shape[0]))

    def _fit_coef(self, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
        gamma, eps = float(self.gamma), float(self.epsilon)
        d, T = loss.n_features, loss.n_tasks
        G, B = task_grams(Xs, ys)
        W0, _ = self._initial_coef(Xs, ys, loss)
        D0 = mtfl_d_step(W0, eps) if np.any(W0) else np.eye(d) / d
        W, self.D_ = alternating_minimise(
            self,
            W0,
            D0,
            lambda W, D: mtfl_w_step(G, B, D, gamma),
            lambda W: mtfl_d_step(W, eps),
            lambda W: self.objective(loss.value(W), W),
            "MTFL",
        )
        return W, np.zeros(T)
