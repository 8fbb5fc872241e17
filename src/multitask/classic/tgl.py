"""Temporal group lasso, TGL (MALSAR ``Least_TGL`` / ``Logistic_TGL``).

Zhou, Yuan, Liu, Ye. A multi-task learning formulation for predicting disease progression. KDD 2011.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._losses import PenalisedLoss, SmoothLoss, quadratic_penalty
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L21_ROWS
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator
from multitask.classic._task_structure import temporal_difference

__all__ = ["TGLRegressor", "TGLClassifier"]


@hyperparameters
class _TGL(ProxGradientEstimator):
    """Ridge rho1 and temporal smoothness rho2 in the smooth part, the ℓ2,1 rows (rho3) by prox.

    The defaults are the regressor's; the classifier lowers all three strengths, as its loss is a
    per-task mean."""

    rho1: float = 1.0
    rho2: float = 1.0
    rho3: float = 1.0

    _ridge = "rho1"
    _terms = (PenaltyTerm("rho3", L21_ROWS),)
    _nonneg_params = ("rho2",)

    def _smooth(self, loss: SmoothLoss) -> PenalisedLoss:
        H = temporal_difference(loss.n_tasks)
        return PenalisedLoss(loss, quadratic_penalty(float(self.rho2), H @ H.T), quadratic=True)


class TGLRegressor(MultiTaskRegressorMixin, _TGL):
    """Temporal group lasso, least squares.

    Zhou, Yuan, Liu, Ye. A multi-task learning formulation for predicting disease progression. KDD 2011.

    The tasks are ordered in time (task t = the prediction at time point t). Objective (W is d x T, one
    column per task; MALSAR ``Least_TGL``, the same scaling)::

        min_{W, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖W‖²_F  +  rho2 ‖W H‖²_F  +  rho3 ‖W‖₂,₁

    with H the T x (T−1) temporal difference matrix (``H[t, t] = 1, H[t+1, t] = −1``, so
    ``‖WH‖²_F = Σₜ ‖wₜ − w_{t+1}‖²``: consecutive time points get similar models) and
    ``‖W‖₂,₁ = Σᵢ ‖Wᵢ,:‖₂`` selecting the same features at every time point. Solved by accelerated
    proximal gradient with row-group shrinkage.

    Args:
        rho1: squared-Frobenius (ridge) strength (MALSAR ``rho1``; no ½ factor; default 1.0 here).
        rho2: temporal smoothness strength (MALSAR ``rho2``; default 1.0 here).
        rho3: ℓ2,1 group-lasso strength (MALSAR ``rho3``; default 1.0 here).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features) with the time points as rows, intercept_ (n_tasks,), n_tasks_,
        objective_path_, n_iter_

    MALSAR's ``Least_TGL`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.
    """


@hyperparameters
class TGLClassifier(MultiTaskClassifierMixin, _TGL):
    """Temporal group lasso, logistic (MALSAR ``Logistic_TGL``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖W‖²_F + rho2‖WH‖²_F + rho3‖W‖₂,₁`` (labels
    ±1; MALSAR's scaling and intercepts). Parameters as :class:`TGLRegressor`, except the defaults
    ``rho1 = rho2 = rho3 = 0.01``, as the loss is a per-task mean. Attributes as :class:`TGLRegressor`,
    plus ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
    rho3: float = 0.01
