"""Robust multi-task learning: low-rank plus group-sparse, RMTL (MALSAR ``Least_RMTL``).

Chen, Zhou, Ye. Integrating low-rank and group-sparse structures for robust multi-task learning. KDD 2011.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L21_COLS, TRACE
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["RMTLRegressor", "RMTLClassifier"]


@hyperparameters
class _RMTL(ProxGradientEstimator):
    """W = L + S: the trace norm of L (a low-dimensional subspace shared by the related tasks) and
    column groups of S (outlier tasks, each with its own column).

    The defaults are the regressor's; the classifier lowers both strengths."""

    rho1: float = 1.0
    rho2: float = 1.0

    _admm = True
    _terms = (PenaltyTerm("rho1", TRACE, "L_"), PenaltyTerm("rho2", L21_COLS, "S_"))


class RMTLRegressor(MultiTaskRegressorMixin, _RMTL):
    """Robust MTL W = L + S (low-rank L, column-group sparse S) — least squares.

    Chen, Zhou, Ye. Integrating low-rank and group-sparse structures for robust multi-task learning.
    KDD 2011.

    Objective (W = L + S, d x T, one column per task)::

        min_{L, S, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖L‖_* + rho2 Σₜ ‖S:,ₜ‖₂

    L captures the low-rank structure shared by the related tasks; the column-group sparse S picks out the
    outlier tasks. Prox: singular-value thresholding and column group shrinkage.

    MALSAR's ``Least_RMTL(X, Y, rho1, rho2)`` minimises ``Σₜ ‖yₜ − Xₜwₜ‖² + rho1‖L‖_* + rho2 Σₜ‖S:,ₜ‖₂``
    (no ½: its gradient is 2Xᵀ(XW − Y); no intercept): its solution is this estimator's with
    ``rho1 = MALSAR rho1 / 2``, ``rho2 = MALSAR rho2 / 2`` and ``fit_intercept=False``.

    Args:
        rho1: trace-norm strength on L (half MALSAR's ``rho1``; default 1.0 here).
        rho2: column-group strength on S (half MALSAR's ``rho2``; default 1.0 here).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`. ``init="lstsq"`` starts the low-rank L at the
    per-task least-squares solution and S at 0.

    Attributes:
        L_ (low rank) and S_ (outlier columns): the components of W = L + S, of shape (n_tasks, n_features)
        each like coef_ = (L + S)ᵀ; intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_
    """


@hyperparameters
class RMTLClassifier(MultiTaskClassifierMixin, _RMTL):
    """Robust MTL W = L + S (low-rank L, column-group sparse S) — logistic.

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖L‖_* + rho2 Σₜ‖S:,ₜ‖₂`` (labels ±1). MALSAR
    has no logistic RMTL (only ``Least_RMTL``): this variant uses the loss of MALSAR's other
    ``Logistic_*`` functions (a mean per task, with intercepts). Parameters as :class:`RMTLRegressor`,
    except the defaults ``rho1 = rho2 = 0.01``, as the loss is a per-task mean. Attributes as
    :class:`RMTLRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
