"""Convex alternating structure optimisation, cASO (MALSAR ``Least_CASO`` / ``Logistic_CASO``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._graph import PenalisedLoss
from multitask.classic._losses import SmoothLoss
from multitask.classic._spectral import cluster_matrix, cluster_penalty
from multitask.classic.cmtl import _ClusterClassifierParams, _ClusterParams, check_cluster_params

__all__ = ["CASORegressor", "CASOClassifier"]


def _fit_caso(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    d = loss.n_features
    eta, c_pen, k = check_cluster_params(est, d, "features")

    def penalty(W: np.ndarray) -> tuple[float, np.ndarray]:
        v, g, _ = cluster_penalty(W.T, eta, k, d)
        return c_pen * v, c_pen * g.T

    parts0, c0 = est._initial_parts(Xs, ys, loss, 1)
    (W,), c = est._solve_apg(
        PenalisedLoss(loss, penalty),  # type: ignore[arg-type]  # same call signature as SmoothLoss
        parts0,
        c0,
        lambda p, step: p,
        lambda p: 0.0,
    )
    est.M_ = cluster_matrix(W.T, eta, k)
    return W, c


_DOC = """

    Chen, Tang, Liu, Ye. A convex formulation for learning shared structures from multiple tasks.
    ICML 2009 (convex relaxation of Ando & Zhang's alternating structure optimisation, JMLR 2005).

    Objective (W is d x T, one column per task; MALSAR ``{loss_name}_CASO``)::

        min_{{W, c, M}}  {loss}  +  rho1 η(1 + η) tr(Wᵀ (ηI + M)⁻¹ W),   η = rho2 / rho1,
        s.t.  tr M = k,  0 ⪯ M ⪯ I  (M is d x d)

    M relaxes ΘᵀΘ for a k-dimensional feature subspace Θ shared by the tasks; ``k = d`` gives ridge
    regression with strength rho2.

    Solver: as :class:`~multitask.classic.cmtl.CMTLRegressor` — the optimal M for fixed W is closed-form
    in the SVD of W (:mod:`multitask.classic._spectral`, applied to Wᵀ), and accelerated gradient with
    backtracking runs on W (and c); same minimiser as MALSAR's joint scheme over (W, M).

    Args:
        rho1: shared-structure strength (MALSAR ``rho1`` > 0; {rho_default}).
        rho2: ℓ2 strength (MALSAR ``rho2`` > 0).
        k: dimension of the shared subspace, the trace of M, ``0 <= k <= d`` (MALSAR ``k``; default 1).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_,
        M_ (d x d, the optimal relaxed shared-subspace matrix for ``coef_``){extra}
    """


class CASORegressor(_ClusterParams, MultiTaskRegressorBase):
    _fit_coef = _fit_caso


class CASOClassifier(_ClusterClassifierParams, MultiTaskClassifierBase):
    _fit_coef = _fit_caso


CASORegressor.__doc__ = "Convex alternating structure optimisation, least squares." + _DOC.format(
    loss_name="Least", loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²", rho_default="defaults 1.0 here", extra=""
)
CASOClassifier.__doc__ = "Convex alternating structure optimisation, logistic." + _DOC.format(
    loss_name="Logistic",
    loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))",
    rho_default="defaults 0.01 here, as the loss is a per-task mean",
    extra=", classes_",
)
