"""ℓ1-regularised multi-task learning (MALSAR ``Least_Lasso`` / ``Logistic_Lasso``).

Tibshirani. Regression shrinkage and selection via the lasso. J. R. Statist. Soc. B, 1996 — applied to
every task at once, as the MALSAR baseline (Zhou, Chen, Ye. MALSAR: Multi-tAsk Learning via
StructurAl Regularization, Arizona State University, 2011).
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L1
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["LassoRegressor", "LassoClassifier"]


@hyperparameters
class _Lasso(ProxGradientEstimator):
    """Entry-wise ℓ1 on W with an optional ridge; defaults are the regressor's."""

    rho1: float = 1.0
    rho_l2: float = 0.0

    _ridge = "rho_l2"
    _cd_penalty = "l1"
    _terms = (PenaltyTerm("rho1", L1),)


class LassoRegressor(MultiTaskRegressorMixin, _Lasso):
    """Multi-task least squares with an ℓ1 penalty; the tasks share nothing but the strength.

    Tibshirani, J. R. Statist. Soc. B 1996, as the MALSAR baseline (Zhou, Chen, Ye, ASU 2011).

    Objective (W is d x T, one column per task; MALSAR ``Least_Lasso``, the same scaling)::

        min_{W, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho_l2 ‖W‖²_F  +  rho1 ‖W‖₁

    Solved by accelerated proximal gradient with soft thresholding.

    Args:
        rho1: ℓ1 strength (MALSAR ``rho1``; default 1.0 here). scikit-learn's ``Lasso(alpha)`` per task,
            whose loss is a mean, is ``rho1 = n_samples·alpha``.
        rho_l2: squared-Frobenius strength (MALSAR ``opts.rho_L2``, default 0; no ½ factor).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features), sparse entry by entry; intercept_ (n_tasks,); n_tasks_;
        objective_path_; n_iter_

    MALSAR's ``Least_Lasso`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.

    ``stop="gap"`` switches to coordinate descent, as for :class:`~multitask.classic.L21Regressor`
    (here with scikit-learn's ``Lasso`` solver on a shared design) until ``gap_ <= tol``;
    :class:`~multitask.classic.path.LassoRegressorCV` chooses ``rho1`` along a warm-started path.
    """


@hyperparameters
class LassoClassifier(MultiTaskClassifierMixin, _Lasso):
    """Multi-task logistic regression with an ℓ1 penalty (MALSAR ``Logistic_Lasso``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho_l2‖W‖²_F + rho1‖W‖₁`` (labels ±1; MALSAR's
    scaling and intercepts). Parameters as :class:`LassoRegressor`, except the default ``rho1 = 0.01``,
    as the loss is a per-task mean. Attributes as :class:`LassoRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
