"""Convex alternating structure optimisation, cASO (MALSAR ``Least_CASO`` / ``Logistic_CASO``).

Chen, Tang, Liu, Ye. A convex formulation for learning shared structures from multiple tasks. ICML 2009
(convex relaxation of Ando & Zhang's alternating structure optimisation, JMLR 2005).
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic.cmtl import ClusterPenaltyEstimator

__all__ = ["CASORegressor", "CASOClassifier"]


class CASORegressor(MultiTaskRegressorMixin, ClusterPenaltyEstimator):
    """Convex alternating structure optimisation, least squares.

    Chen, Tang, Liu, Ye. A convex formulation for learning shared structures from multiple tasks.
    ICML 2009 (convex relaxation of Ando & Zhang's alternating structure optimisation, JMLR 2005).

    Objective (W is d x T, one column per task; MALSAR ``Least_CASO``, the same scaling)::

        min_{W, c, M}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 η(1 + η) tr(Wᵀ (ηI + M)⁻¹ W),   η = rho2 / rho1,
        s.t.  tr M = k,  0 ⪯ M ⪯ I  (M is d x d)

    M relaxes ΘᵀΘ for a k-dimensional feature subspace Θ shared by the tasks; ``k = d`` gives ridge
    regression with strength rho2.

    Solver: as :class:`~multitask.classic.cmtl.CMTLRegressor` — the optimal M for fixed W is closed-form
    in the SVD of W (:mod:`multitask.classic._spectral`, applied to Wᵀ), and accelerated gradient with
    backtracking runs on W (and c); same minimiser as MALSAR's joint scheme over (W, M).

    Args:
        rho1: shared-structure strength (MALSAR ``rho1`` > 0; default 1.0 here).
        rho2: ℓ2 strength (MALSAR ``rho2`` > 0; default 1.0 here).
        k: dimension of the shared subspace, the trace of M, ``0 <= k <= d`` (MALSAR ``k``; default 1).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_,
        M_ (d x d, the optimal relaxed shared-subspace matrix for ``coef_``)

    MALSAR's ``Least_CASO`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.
    """

    _over_features = True


@hyperparameters
class CASOClassifier(MultiTaskClassifierMixin, ClusterPenaltyEstimator):
    """Convex alternating structure optimisation, logistic (MALSAR ``Logistic_CASO``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1 η(1 + η) tr(Wᵀ(ηI + M)⁻¹W)`` over W, c and
    M as in :class:`CASORegressor` (labels ±1; MALSAR's scaling and intercepts). Parameters as
    :class:`CASORegressor`, except the defaults ``rho1 = rho2 = 0.01``, as the loss is a per-task mean.
    Attributes as :class:`CASORegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
    _over_features = True
