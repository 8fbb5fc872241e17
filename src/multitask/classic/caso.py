"""Convex alternating structure optimisation, cASO (MALSAR ``Least_CASO`` / ``Logistic_CASO``)."""

from __future__ import annotations

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._twins import document_twins
from multitask.classic.cmtl import _ClusterClassifierModel, _ClusterModel

__all__ = ["CASORegressor", "CASOClassifier"]


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


class CASORegressor(_ClusterModel, MultiTaskRegressorBase):
    _over_features = True


class CASOClassifier(_ClusterClassifierModel, MultiTaskClassifierBase):
    _over_features = True


document_twins(
    _DOC,
    CASORegressor,
    "Convex alternating structure optimisation, least squares.",
    CASOClassifier,
    "Convex alternating structure optimisation, logistic.",
    rho_defaults=("defaults 1.0 here", "defaults 0.01 here, as the loss is a per-task mean"),
)
