"""ℓ2,1 joint feature selection (MALSAR ``Least_L21`` / ``Logistic_L21``).

Obozinski, Taskar, Jordan. Multi-task feature selection. Technical report, UC Berkeley, 2006;
Argyriou, Evgeniou, Pontil. Multi-task feature learning. NeurIPS 2007;
Liu, Ji, Ye. Multi-task feature learning via efficient ℓ2,1-norm minimization. UAI 2009.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L21_ROWS
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["L21Regressor", "L21Classifier"]


@hyperparameters
class _L21(ProxGradientEstimator):
    """ℓ2,1 rows of W, plus an optional ridge (regressor defaults)."""

    rho1: float = 1.0
    rho_l2: float = 0.0

    _terms = (PenaltyTerm("rho1", L21_ROWS),)
    _ridge = "rho_l2"
    _cd_penalty = "l21"
    _admm = True


class L21Regressor(MultiTaskRegressorMixin, _L21):
    """Multi-task least squares with ℓ2,1 joint feature selection.

    Obozinski, Taskar, Jordan, 2006; Argyriou, Evgeniou, Pontil, NeurIPS 2007; Liu, Ji, Ye, UAI 2009.

    Objective (W is d x T, one column per task; MALSAR ``Least_L21``, the same scaling)::

        min_{W, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho_l2 ‖W‖²_F  +  rho1 Σᵢ ‖Wᵢ,:‖₂

    The ℓ2,1 penalty zeroes whole feature rows, so all tasks select the same features. Solved by
    accelerated proximal gradient with row-group shrinkage (:func:`~multitask.classic._prox.prox_l21_rows`).

    Args:
        rho1: ℓ2,1 strength (MALSAR ``rho1``; default 1.0 here, MALSAR has none). scikit-learn's
            ``MultiTaskLasso(alpha)``, whose loss is a mean, is ``rho1 = n_samples·alpha``.
        rho_l2: squared-Frobenius strength (MALSAR ``opts.rho_L2``, default 0; no ½ factor).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features): one row per task; a feature dropped by the ℓ2,1 penalty is a zero
        column. intercept_ (n_tasks,), n_tasks_, objective_path_ (the objective after each iteration),
        n_iter_.

    MALSAR's ``Least_L21`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.

    With ``stop="gap"`` the fit runs until the relative duality gap ``gap_`` is at most ``tol``: on a shared
    design scikit-learn's ``MultiTaskLasso`` coordinate descent (on the d x d Cholesky factor when n > d, on
    working sets when n ≤ d; :mod:`multitask.classic._cd`); on per-task rows with precomputed Gram matrices
    ADMM with the exact per-task Gram step (:mod:`multitask.classic._admm`; block coordinate descent in
    numpy past its 2000 features); FISTA otherwise.
    :class:`~multitask.classic.path.L21RegressorCV` and :func:`~multitask.classic.path.regularisation_path`
    fit a warm-started regularisation path.
    """


@hyperparameters
class L21Classifier(MultiTaskClassifierMixin, _L21):
    """Multi-task logistic regression with ℓ2,1 joint feature selection (MALSAR ``Logistic_L21``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho_l2‖W‖²_F + rho1 Σᵢ ‖Wᵢ,:‖₂`` (labels ±1;
    MALSAR's scaling and intercepts). Parameters as :class:`L21Regressor`, except the default
    ``rho1 = 0.01``, as the loss is a per-task mean. Attributes as :class:`L21Regressor`, plus ``classes_``.
    """

    rho1: float = 0.01
