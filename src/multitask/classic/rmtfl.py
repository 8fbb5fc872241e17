"""Robust multi-task feature learning, rMTFL (MALSAR ``Least_rMTFL`` / ``Logistic_rMTFL``).

Gong, Ye, Zhang. Robust multi-task feature learning. KDD 2012.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L21_COLS, L21_ROWS
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["RMTFLRegressor", "RMTFLClassifier"]


@hyperparameters
class _RMTFL(ProxGradientEstimator):
    """W = P + Q: row groups of P (features shared by the tasks), column groups of Q (outlier tasks).

    The defaults are the regressor's."""

    lambda1: float = 1.0
    lambda2: float = 1.0

    _admm = True
    _terms = (PenaltyTerm("lambda1", L21_ROWS, "P_"), PenaltyTerm("lambda2", L21_COLS, "Q_"))


class RMTFLRegressor(MultiTaskRegressorMixin, _RMTFL):
    """Robust multi-task feature learning W = P + Q (row-group P, column-group Q) — least squares.

    Gong, Ye, Zhang. Robust multi-task feature learning. KDD 2012.

    Objective (W = P + Q, d x T, one column per task)::

        min_{P, Q, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  lambda1 Σᵢ ‖Pᵢ,:‖₂ + lambda2 Σₜ ‖Q:,ₜ‖₂

    P carries the features shared by the tasks (row groups: ‖P‖₁,₂ in MALSAR's notation); Q flags outlier
    tasks (column groups: ‖Qᵀ‖₁,₂). Prox: row and column group shrinkage.

    MALSAR's ``Least_rMTFL(X, Y, lambda1, lambda2)`` minimises ``‖X(P+Q) − Y‖²_F + lambda1‖P‖₁,₂ +
    lambda2‖Qᵀ‖₁,₂`` (no ½, no intercept): its solution is this estimator's with
    ``lambda1 = MALSAR lambda1 / 2``, ``lambda2 = MALSAR lambda2 / 2`` and ``fit_intercept=False``.

    Args:
        lambda1: row-group strength on P (half MALSAR's ``lambda1``; default 1.0 here).
        lambda2: column-group strength on Q (half MALSAR's ``lambda2``; default 1.0 here).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`; with ``init="lstsq"`` the shared part P starts at
    the per-task least-squares solution and Q at 0.

    Attributes:
        coef_ (n_tasks, n_features) = (P + Q)ᵀ; P_ (shared features) and Q_ (outlier tasks), both stored
        transposed like coef_; intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_
    """


@hyperparameters
class RMTFLClassifier(MultiTaskClassifierMixin, _RMTFL):
    """Robust multi-task feature learning W = P + Q — logistic (MALSAR ``Logistic_rMTFL``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + lambda1 Σᵢ‖Pᵢ,:‖₂ + lambda2 Σₜ‖Q:,ₜ‖₂``
    (labels ±1); MALSAR's ``Logistic_rMTFL(X, Y, rho1, rho2)`` has the same loss, scaling and intercepts:
    ``lambda1 = rho1``, ``lambda2 = rho2``. Parameters as :class:`RMTFLRegressor`, except the defaults
    ``lambda1 = lambda2 = 0.01``, as the loss is a per-task mean. Attributes as :class:`RMTFLRegressor`,
    plus ``classes_``.
    """

    lambda1: float = 0.01
    lambda2: float = 0.01
