"""Convex relaxed clustered multi-task learning, CMTL (MALSAR ``Least_CMTL`` / ``Logistic_CMTL``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._graph import PenalisedLoss
from multitask.classic._losses import SmoothLoss
from multitask.classic._spectral import cluster_matrix, cluster_penalty
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["CMTLRegressor", "CMTLClassifier", "check_cluster_params"]


def check_cluster_params(est: MultiTaskLinearModel, q: int, what: str) -> tuple[float, float, float]:
    """Validate ``rho1 > 0``, ``rho2 > 0`` and ``0 <= k <= q``; return ``(eta, c, k)`` with
    ``eta = rho2/rho1`` and ``c = rho1·eta·(1 + eta)``."""
    name = type(est).__name__
    est._check_nonneg(rho1=est.rho1, rho2=est.rho2, k=est.k)
    if est.rho1 <= 0 or est.rho2 <= 0:
        raise ValueError(f"{name}: rho1 and rho2 must both be > 0 (MALSAR), got {est.rho1!r}, {est.rho2!r}")
    if est.k > q:
        raise ValueError(f"{name}: k must be at most the number of {what} ({q}), got {est.k!r}")
    eta = float(est.rho2) / float(est.rho1)
    return eta, float(est.rho1) * eta * (1.0 + eta), float(est.k)


_DOC = """

    Zhou, Chen, Ye. Clustered multi-task learning via alternating structure optimization. NeurIPS 2011.

    Objective (W is d x T, one column per task; MALSAR ``{loss_name}_CMTL``)::

        min_{{W, c, M}}  {loss}  +  rho1 η(1 + η) tr(W (ηI + M)⁻¹ Wᵀ),   η = rho2 / rho1,
        s.t.  tr M = k,  0 ⪯ M ⪯ I  (M is T x T)

    the convex relaxation of k-means-clustered tasks (M relaxes FFᵀ, F the cluster indicator); ``k = T``
    gives ridge regression with strength rho2.

    Solver: the problem is jointly convex in (W, M) and, for fixed W, the optimal M has a closed form in
    W's singular value decomposition (see :mod:`multitask.classic._spectral`); the estimator runs
    accelerated gradient with backtracking on W (and c) for the resulting smooth function. It has the
    same minimiser as MALSAR's joint accelerated gradient over (W, M) with the eigenvalue projection,
    but the extrapolated M of the joint scheme can leave the set where ηI + M ≻ 0, which this form avoids.

    Args:
        rho1: clustering strength (MALSAR ``rho1`` > 0; {rho_default}).
        rho2: ℓ2 strength (MALSAR ``rho2`` > 0).
        k: number of clusters, the trace of M, ``0 <= k <= T`` (MALSAR ``k``; default 1 here, as it must
            not exceed the number of tasks).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_,
        M_ (T x T, the optimal relaxed cluster matrix for ``coef_``){extra}
    """


class _ClusterModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the CMTL / cASO estimators: the relaxed
    cluster penalty on the task columns of W (CMTL) or, with ``_over_features``, on the feature columns
    of Wᵀ (cASO); ``M_`` is stored after the fit."""

    _nonneg_params = ("rho1", "rho2", "k")
    _over_features = False

    def __init__(
        self,
        rho1: float = 1.0,
        rho2: float = 1.0,
        k: float = 1,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        self.rho1 = rho1
        self.rho2 = rho2
        self.k = k
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        over_features = self._over_features
        q = loss.n_features if over_features else loss.n_tasks
        eta, c_pen, k = check_cluster_params(self, q, "features" if over_features else "tasks")

        def oriented(A: np.ndarray) -> np.ndarray:
            return A.T if over_features else A

        def penalty(W: np.ndarray) -> tuple[float, np.ndarray]:
            v, g, _ = cluster_penalty(oriented(W), eta, k, q)
            return c_pen * v, c_pen * oriented(g)

        def store_cluster_matrix(W: np.ndarray) -> None:
            self.M_ = cluster_matrix(oriented(W), eta, k)

        return Composite(
            PenalisedLoss(loss, penalty), lambda p, step: p, lambda p: 0.0, on_solution=store_cluster_matrix
        )


class _ClusterClassifierModel(_ClusterModel):
    """:class:`_ClusterModel` with the classifiers' default strengths."""

    def __init__(
        self,
        rho1: float = 0.01,
        rho2: float = 0.01,
        k: float = 1,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            rho1, rho2, k, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop,
            init=init, warm_start=warm_start, verbose=verbose,
        )


class CMTLRegressor(_ClusterModel, MultiTaskRegressorBase):
    pass


class CMTLClassifier(_ClusterClassifierModel, MultiTaskClassifierBase):
    pass


document_twins(
    _DOC,
    CMTLRegressor,
    "Convex clustered multi-task least squares.",
    CMTLClassifier,
    "Convex clustered multi-task logistic regression.",
    rho_defaults=("defaults 1.0 here", "defaults 0.01 here, as the loss is a per-task mean"),
)
