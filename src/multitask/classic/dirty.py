"""Dirty model: block-sparse plus element-sparse multi-task learning (MALSAR ``Least_Dirty`` /
``Logistic_Dirty``).

Jalali, Ravikumar, Sanghavi, Ruan. A dirty model for multi-task learning. NeurIPS 2010.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L1, L1INF_ROWS
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["DirtyRegressor", "DirtyClassifier"]


@hyperparameters
class _Dirty(ProxGradientEstimator):
    """W = P + Q, block-sparse P (ℓ1,∞ over rows) and element-sparse Q; regressor defaults."""

    lambda1: float = 1.0
    lambda2: float = 1.0

    _terms = (PenaltyTerm("lambda1", L1INF_ROWS, "P_"), PenaltyTerm("lambda2", L1, "Q_"))


class DirtyRegressor(MultiTaskRegressorMixin, _Dirty):
    """Dirty model W = P + Q with ℓ1,∞ block sparsity on P and ℓ1 sparsity on Q — least squares.

    Jalali, Ravikumar, Sanghavi, Ruan. A dirty model for multi-task learning. NeurIPS 2010.

    Objective (W = P + Q, d x T, one column per task)::

        min_{P, Q, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  lambda1 ‖P‖₁,∞ + lambda2 ‖Q‖₁,₁

    ‖P‖₁,∞ = Σᵢ maxₜ |Pᵢₜ| selects features shared by all tasks (block sparsity); ‖Q‖₁,₁ = Σ |Qᵢₜ| lets
    each task keep its own few features. Prox: ℓ₁,∞ by Moreau (projection onto the ℓ1 ball, row by row)
    and soft thresholding.

    MALSAR's ``Least_Dirty(X, Y, lambda1, lambda2)`` minimises ``‖X(P+Q) − Y‖²_F + lambda1‖P‖₁,∞ +
    lambda2‖Q‖₁,₁`` (no ½, no intercept): its solution is this estimator's with
    ``lambda1 = MALSAR lambda1 / 2``, ``lambda2 = MALSAR lambda2 / 2`` and ``fit_intercept=False``.
    The ½ is kept so that every least-squares estimator of :mod:`multitask.classic` has the same loss.

    Args:
        lambda1: ‖P‖₁,∞ strength (half MALSAR's ``lambda1``; default 1.0 here).
        lambda2: ‖Q‖₁,₁ strength (half MALSAR's ``lambda2``; default 1.0 here). Jalali et al. recommend
            λ₂ < λ₁ < T·λ₂ for both parts to be active.

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel` (``init="lstsq"``: P from per-task least squares, Q
    from 0).

    Attributes:
        P_ (block-sparse) and Q_ (element-sparse), transposed like ``coef_ = (P + Q)ᵀ``; coef_, intercept_,
        n_tasks_, objective_path_, n_iter_ as in :class:`~multitask.classic._base.MultiTaskLinearModel`.
    """


@hyperparameters
class DirtyClassifier(MultiTaskClassifierMixin, _Dirty):
    """Dirty model W = P + Q (ℓ1,∞ on P, ℓ1 on Q) — logistic (MALSAR ``Logistic_Dirty``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + lambda1‖P‖₁,∞ + lambda2‖Q‖₁,₁`` (labels ±1).
    MALSAR's ``Logistic_Dirty(X, Y, rho1, rho2)`` has the same loss, scaling and intercepts:
    ``lambda1 = rho1``, ``lambda2 = rho2``. Parameters as :class:`DirtyRegressor`, except the defaults
    ``lambda1 = lambda2 = 0.01``, as the loss is a per-task mean. Attributes as :class:`DirtyRegressor`,
    plus ``classes_``.
    """

    lambda1: float = 0.01
    lambda2: float = 0.01
