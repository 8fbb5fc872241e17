"""Convex relaxed clustered multi-task learning, CMTL (MALSAR ``Least_CMTL`` / ``Logistic_CMTL``).

Zhou, Chen, Ye. Clustered multi-task learning via alternating structure optimization. NeurIPS 2011.
The same relaxed penalty on the feature side is cASO (:mod:`multitask.classic.caso`), which reuses
:class:`ClusterPenaltyEstimator`.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import hyperparameters
from multitask.classic._losses import PenalisedLoss, SmoothLoss
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox_gradient import Composite, ProxGradientEstimator
from multitask.classic._spectral import cluster_matrix, cluster_penalty

__all__ = ["CMTLRegressor", "CMTLClassifier", "ClusterPenaltyEstimator"]


@hyperparameters
class ClusterPenaltyEstimator(ProxGradientEstimator):
    """Hyper-parameters (regressor defaults) and problem of the CMTL and cASO estimators: the relaxed
    cluster penalty on the task columns of W (CMTL) or, with ``_over_features = True``, on the feature
    columns of Wᵀ (cASO); ``M_`` is stored after the fit."""

    rho1: float = 1.0
    rho2: float = 1.0
    k: float = 1

    _over_features = False

    def _validate_params_extra(self) -> None:
        name = type(self).__name__
        self._check_nonneg(rho1=self.rho1, rho2=self.rho2, k=self.k)
        if self.rho1 <= 0 or self.rho2 <= 0:
            raise ValueError(
                f"{name}: rho1 and rho2 must both be > 0 (MALSAR), got {self.rho1!r}, {self.rho2!r}"
            )

    def _problem(self, loss: SmoothLoss) -> Composite:
        over_features = self._over_features
        q = loss.n_features if over_features else loss.n_tasks
        if self.k > q:
            what = "features" if over_features else "tasks"
            raise ValueError(
                f"{type(self).__name__}: k must be at most the number of {what} ({q}), got {self.k!r}"
            )
        eta = float(self.rho2) / float(self.rho1)
        c_pen, k = float(self.rho1) * eta * (1.0 + eta), float(self.k)

        def oriented(A: np.ndarray) -> np.ndarray:
            return A.T if over_features else A

        def penalty(W: np.ndarray) -> tuple[float, np.ndarray]:
            v, g, _ = cluster_penalty(oriented(W), eta, k, q)
            return c_pen * v, c_pen * oriented(g)

        # its Hessian lies between 2c/(η + 1) = 2 rho2 and 2c/η: the lower end for the preconditioner
        penalty.diag = 2.0 * c_pen / (eta + 1.0)  # type: ignore[attr-defined]

        def store_cluster_matrix(W: np.ndarray) -> None:
            self.M_ = cluster_matrix(oriented(W), eta, k)

        return Composite(
            PenalisedLoss(loss, penalty), lambda p, step: p, lambda p: 0.0, on_solution=store_cluster_matrix,
            rows=(True,),  # no prox (a smooth problem): any diagonal metric
        )


class CMTLRegressor(MultiTaskRegressorMixin, ClusterPenaltyEstimator):
    """Convex clustered multi-task least squares.

    Zhou, Chen, Ye. Clustered multi-task learning via alternating structure optimization. NeurIPS 2011.

    Objective (W is d x T, one column per task; MALSAR ``Least_CMTL``, the same scaling)::

        min_{W, c, M}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 η(1 + η) tr(W (ηI + M)⁻¹ Wᵀ),   η = rho2 / rho1,
        s.t.  tr M = k,  0 ⪯ M ⪯ I  (M is T x T)

    the convex relaxation of k-means-clustered tasks (M relaxes FFᵀ, F the cluster indicator); ``k = T``
    gives ridge regression with strength rho2.

    Solver: the problem is jointly convex in (W, M) and, for fixed W, the optimal M has a closed form in
    W's singular value decomposition (see :mod:`multitask.classic._spectral`); the estimator runs
    accelerated gradient with backtracking on W (and c) for the resulting smooth function. It has the
    same minimiser as MALSAR's joint accelerated gradient over (W, M) with the eigenvalue projection,
    but the extrapolated M of the joint scheme can leave the set where ηI + M ≻ 0, which this form avoids.

    Args:
        rho1: clustering strength (MALSAR ``rho1`` > 0; default 1.0 here).
        rho2: ℓ2 strength (MALSAR ``rho2`` > 0; default 1.0 here).
        k: number of clusters, the trace of M, ``0 <= k <= T`` (MALSAR ``k``; default 1 here, as it must
            not exceed the number of tasks).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_,
        M_ (T x T, the optimal relaxed cluster matrix for ``coef_``)

    MALSAR's ``Least_CMTL`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.
    """


@hyperparameters
class CMTLClassifier(MultiTaskClassifierMixin, ClusterPenaltyEstimator):
    """Convex clustered multi-task logistic regression (MALSAR ``Logistic_CMTL``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1 η(1 + η) tr(W(ηI + M)⁻¹Wᵀ)`` over W, c and
    M as in :class:`CMTLRegressor` (labels ±1; MALSAR's scaling and intercepts). Parameters as
    :class:`CMTLRegressor`, except the defaults ``rho1 = rho2 = 0.01``, as the loss is a per-task mean.
    Attributes as :class:`CMTLRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
