"""Trace-norm (low-rank) multi-task learning (MALSAR ``Least_Trace`` / ``Logistic_Trace``).

Ji & Ye. An accelerated gradient method for trace norm minimization. ICML 2009 (the solver); the trace
norm as the convex envelope of rank for shared low-dimensional task structure (Abernethy, Bach, Evgeniou,
Vert, JMLR 2009; Pong, Tseng, Ji, Ye, SIAM J. Optim. 2010).
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import TRACE
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["TraceRegressor", "TraceClassifier"]


@hyperparameters
class _Trace(ProxGradientEstimator):
    """Nuclear norm of W (regressor default)."""

    rho1: float = 1.0

    _admm = True
    _terms = (PenaltyTerm("rho1", TRACE),)


class TraceRegressor(MultiTaskRegressorMixin, _Trace):
    """Multi-task least squares with a trace-norm (low-rank) penalty.

    Ji & Ye, ICML 2009; Abernethy, Bach, Evgeniou, Vert, JMLR 2009; Pong, Tseng, Ji, Ye, SIAM J. Optim. 2010.

    Objective (W is d x T, one column per task; MALSAR ``Least_Trace``, the same scaling)::

        min_{W, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖W‖_*

    Solved by accelerated proximal gradient with singular-value thresholding.

    Args:
        rho1: trace-norm strength (MALSAR ``rho1``; default 1.0 here).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features), of low rank for large rho1, intercept_ (n_tasks,), n_tasks_,
        objective_path_ (one value per iteration), n_iter_

    MALSAR's ``Least_Trace`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.
    """


@hyperparameters
class TraceClassifier(MultiTaskClassifierMixin, _Trace):
    """Multi-task logistic regression with a trace-norm penalty (MALSAR ``Logistic_Trace``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖W‖_*`` (labels ±1; MALSAR's scaling and
    intercepts). Parameters as :class:`TraceRegressor`, except the default ``rho1 = 0.01``, as the loss
    is a per-task mean. Attributes as :class:`TraceRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
