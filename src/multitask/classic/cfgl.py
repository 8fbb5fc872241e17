"""Convex fused sparse group lasso, cFSGL (MALSAR ``Least_CFGLasso`` / ``Logistic_CFGLasso``).

Zhou, Liu, Narayan, Ye. Modeling disease progression via fused sparse group lasso. KDD 2012.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import hyperparameters
from multitask.classic._fused import fused_penalty_rows, prox_fused_sparse_group_rows
from multitask.classic._losses import SmoothLoss
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import l21_norm
from multitask.classic._prox_gradient import Composite, ProxGradientEstimator, per_part

__all__ = ["CFGLassoRegressor", "CFGLassoClassifier", "cfgl_penalty"]


def cfgl_penalty(W: np.ndarray, rho1: float, rho2: float, rho3: float) -> float:
    """``rho1‖W‖₁ + rho2‖WR‖₁ + rho3‖W‖₂,₁`` (R: temporal differences of consecutive tasks)."""
    return float(rho1 * np.abs(W).sum() + rho2 * fused_penalty_rows(W) + rho3 * l21_norm(W))


def _fused_prox(V: np.ndarray, step: float | np.ndarray, rho1: float, rho2: float, rho3: float) -> np.ndarray:
    step = step if np.ndim(step) == 0 else np.ravel(step)
    return prox_fused_sparse_group_rows(V, rho1 * step, rho2 * step, rho3 * step)


@hyperparameters
class _CFGLasso(ProxGradientEstimator):
    """Hyper-parameters (regressor defaults) and problem of :class:`CFGLassoRegressor` /
    :class:`CFGLassoClassifier`."""

    rho1: float = 1.0
    rho2: float = 1.0
    rho3: float = 1.0

    _nonneg_params = ("rho1", "rho2", "rho3")

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1, rho2, rho3 = float(self.rho1), float(self.rho2), float(self.rho3)
        return Composite(
            loss,
            lambda p, step: (_fused_prox(p[0], per_part(step, 1)[0], rho1, rho2, rho3),),
            lambda p: cfgl_penalty(p[0], rho1, rho2, rho3),
            rows=(True,),
        )


class CFGLassoRegressor(MultiTaskRegressorMixin, _CFGLasso):
    """Convex fused sparse group lasso, least squares.

    Zhou, Liu, Narayan, Ye. Modeling disease progression via fused sparse group lasso. KDD 2012.

    The tasks are ordered in time. Objective (W is d x T, one column per task; MALSAR
    ``Least_CFGLasso``, the same scaling)::

        min_{W, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖W‖₁  +  rho2 ‖W R‖₁  +  rho3 ‖W‖₂,₁

    with R the T x (T−1) temporal difference matrix, so ``‖WR‖₁ = Σᵢ Σₜ |W_{i,t+1} − W_{i,t}|`` (fused
    lasso along time), ``‖W‖₁`` element-wise sparsity and ``‖W‖₂,₁`` feature selection shared by all
    time points. Solved by accelerated proximal gradient; the proximal operator is exact and row-wise:
    1-D total-variation prox (Condat's direct algorithm), soft threshold, then group shrinkage
    (:mod:`multitask.classic._fused`; MALSAR computes the first step iteratively with ``flsa``).

    Args:
        rho1: ℓ1 sparsity strength (MALSAR ``rho1``; default 1.0 here).
        rho2: fused-lasso strength (MALSAR ``rho2``; default 1.0 here).
        rho3: ℓ2,1 group-lasso strength (MALSAR ``rho3``; default 1.0 here).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_: (n_tasks, n_features), rows ordered in time. intercept_: (n_tasks,). n_tasks_, n_iter_ and
        objective_path_ as for every estimator.

    MALSAR's ``Least_CFGLasso`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.
    """


@hyperparameters
class CFGLassoClassifier(MultiTaskClassifierMixin, _CFGLasso):
    """Convex fused sparse group lasso, logistic (MALSAR ``Logistic_CFGLasso``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖W‖₁ + rho2‖WR‖₁ + rho3‖W‖₂,₁`` (labels ±1;
    MALSAR's scaling and intercepts). Parameters as :class:`CFGLassoRegressor`, except the defaults
    ``rho1 = rho2 = rho3 = 0.01``, as the loss is a per-task mean. Attributes as
    :class:`CFGLassoRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
    rho3: float = 0.01
